export type {
  ModelComparison,
  ModelEvent,
  ModelLineage,
  ModelParty,
  ModelRegistration,
  ModelRegistryOptions,
  ModelStatus,
  ModelVersion,
  ScalarMap,
} from './model-registry.ts';
export { MODEL_STATUSES, ModelRegistry, parseRef, REGISTRY_MIGRATIONS } from './model-registry.ts';

export {
  decodeEnvelope,
  type EncodedTask,
  encodeTask,
  jobIdOf,
  type TaskBlob,
  type TaskEnvelope,
  type TaskId,
  taskIdOf,
} from './codec.ts';
export {
  LATENCY_WINDOW,
  type LatencySummary,
  QueueExecutor,
  type QueueExecutorOptions,
  type QueueHealth,
} from './executor.ts';
export {
  type HeProductWorkerOptions,
  PACKED_PRODUCT_SHARED_FIELDS,
  runHeProductWorker,
  serveTaskQueue,
  type TaskQueueWorker,
  type TaskQueueWorkerOptions,
} from './worker.ts';

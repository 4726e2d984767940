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
  type AwaitedTasks,
  BLOB_MIN_RETENTION_SECONDS,
  BLOB_TOUCH_SECONDS,
  BYTE_TRANSFERS,
  type ByteTransfer,
  LATENCY_WINDOW,
  type LatencySummary,
  QueueExecutor,
  type QueueExecutorOptions,
  type QueueHealth,
} from './executor.ts';
export { PGBOSS_SCHEMA, QUEUE_TABLES, ROLE_NAME, workerGrantSql } from './schema.ts';
export {
  HE_TASK_KINDS,
  HE_TASK_SHARED_FIELDS,
  type HeProductWorkerOptions,
  type HeTaskKind,
  type HeTaskResources,
  type HeTaskWorkerOptions,
  PACKED_PRODUCT_SHARED_FIELDS,
  type PlainTaskKind,
  runHeProductWorker,
  runHeTaskWorker,
  serveTaskQueue,
  type TaskQueueWorker,
  type TaskQueueWorkerOptions,
} from './worker.ts';

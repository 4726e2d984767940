export { jobIdOf, type TaskId, taskIdOf } from './codec.ts';
export {
  LATENCY_WINDOW,
  type LatencySummary,
  QueueExecutor,
  type QueueExecutorOptions,
  type QueueHealth,
} from './executor.ts';
export {
  type HeProductWorkerOptions,
  runHeProductWorker,
  serveTaskQueue,
  type TaskQueueWorker,
  type TaskQueueWorkerOptions,
} from './worker.ts';

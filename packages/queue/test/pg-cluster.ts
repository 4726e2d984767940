// The throwaway cluster lives in @fedscore/queue/testing (the benchmarks use it too).
export { type PgCluster, postgresBin, postgresUnavailable, startPgCluster } from '@fedscore/queue/testing';

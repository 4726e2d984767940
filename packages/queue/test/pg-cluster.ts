/** The throwaway PostgreSQL cluster of the queue tests; it lives in `@fedscore/queue/testing` (shared). */
export { type PgCluster, postgresBin, postgresUnavailable, startPgCluster } from '@fedscore/queue/testing';

/**
 * `fedscore psi`: private set intersection of two CSV files' ids (USCCs, or opaque ids of any other
 * form), both parties in this process over the in-memory channel with the real wire format. For trying
 * PSI out; party nodes run the two roles apart. Each party resolves `--id-kind auto` from its own file
 * only, as separate nodes would, and PSI's hello refuses parties whose kinds differ.
 */
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { FedscoreError } from '@fedscore/core';
import { readCsvFileDetailed, writeCsvFile } from '@fedscore/core/node';
import {
  BlindingPool,
  buildHostCache,
  checkHostCache,
  checkHostCacheRotation,
  decodeHostCache,
  encodeHostCache,
  type IdSetReport,
  type PsiHostCache,
  type PsiIdKindChoice,
  type PsiMode,
  prepareIds,
  resolveIdKind,
  runPsiLocal,
} from '@fedscore/psi';
import { bool, type Command, optNum, optStr, str } from '../command.ts';
import { ID_KIND_OPTION } from '../pipeline/options.ts';

export const command: Command = {
  path: ['psi'],
  summary: 'private set intersection of two CSV files on their id column (both parties in-process)',
  description: `
Runs ECDH-PSI over ristretto255 between a guest (bank) file and a host (government) file, both in
this process over the in-memory channel (docs/protocols/psi.md). An invalid id is an error naming
its file and line unless --skip-invalid; repeated ids are dropped and counted.

Id kinds (--id-kind):
  uscc    Unified Social Credit Codes: trimmed, full-width to ASCII, upper-cased and checked
          (GB 32100) first;
  opaque  any other id (row numbers, account numbers, e-mail addresses, names): trimmed and put in
          Unicode NFC, case-folded only with --case-fold; 1 to 1024 UTF-8 bytes;
  auto    (default) each party decides from its own file alone -- uscc when most ids in it are
          valid USCCs (so a typo is reported by line, not taken as a sign of another kind), else
          opaque -- so nothing about one file steers the other. Both parties must end up with the
          same kind (and --case-fold): PSI's hello checks it and stops with psi_mismatch
          otherwise; then name the kind explicitly.
The kind is part of the hash domain, so ids prepared as different kinds never match.

Modes: both (default) -- both parties learn the intersection, in one aligned order; guest_only --
the host learns only the intersection size.

--out writes the aligned intersection (id, guest_line, host_line) in the order both parties share.
Lines in --out and in skipped/duplicate reports count the header as line 1 and one record per line
after it (a file with blank lines or quoted line breaks shifts them; errors name the exact line).
--host-cache FILE reuses the host's blinded set from FILE when it was built from the same ids, and
otherwise builds it and writes FILE (mode 0600: it holds the host's secret key).

Example:
  fedscore psi --guest bank.csv --host gov.csv --id uscc --out aligned.csv --json
  fedscore psi --guest a.csv --host b.csv --id email --id-kind opaque --case-fold`,
  options: {
    guest: {
      type: 'string',
      required: true,
      placeholder: 'FILE',
      description: "the guest's (bank's) CSV file",
    },
    host: {
      type: 'string',
      required: true,
      placeholder: 'FILE',
      description: "the host's (government's) CSV file",
    },
    id: {
      type: 'string',
      required: true,
      placeholder: 'COLUMN',
      description: 'the id column, in both files',
    },
    'id-kind': ID_KIND_OPTION,
    'case-fold': { type: 'boolean', description: 'opaque ids: match regardless of letter case' },
    out: { type: 'string', placeholder: 'FILE', description: 'write the aligned intersection as CSV' },
    mode: {
      type: 'string',
      default: 'both',
      choices: ['both', 'guest_only'],
      description: 'who learns the intersection',
    },
    'skip-invalid': { type: 'boolean', description: 'skip and count invalid ids instead of failing' },
    threads: {
      type: 'integer',
      placeholder: 'N',
      description: 'blinding worker threads [default: all cores]',
    },
    batch: { type: 'integer', default: 4096, placeholder: 'N', description: 'points per message' },
    'host-cache': {
      type: 'string',
      placeholder: 'FILE',
      description: "reuse (or build and write) the host's blinded set",
    },
    delimiter: { type: 'string', default: ',', placeholder: 'CHAR', description: 'field separator' },
  },
  async run(options, _positionals, ctx) {
    const idColumn = str(options, 'id');
    const mode = str(options, 'mode') as PsiMode;
    const threads = optNum(options, 'threads');
    const batchSize = optNum(options, 'batch') ?? 4096;
    const delimiter = str(options, 'delimiter');
    const skip = bool(options, 'skip-invalid');
    const idKind = str(options, 'id-kind') as PsiIdKindChoice;
    const caseFold = bool(options, 'case-fold');
    if (caseFold && idKind === 'uscc') {
      throw new FedscoreError(
        'invalid_argument',
        '--case-fold applies to opaque ids (USCCs are upper-cased)',
        {
          field: '--case-fold',
        },
      );
    }
    if (threads !== undefined && (threads < 0 || threads > 256)) {
      throw new FedscoreError('out_of_range', `--threads must be in [0, 256], got ${threads}`, {
        field: '--threads',
      });
    }
    if (batchSize < 1 || batchSize > 1 << 20) {
      throw new FedscoreError('out_of_range', `--batch must be in [1, 1048576], got ${batchSize}`, {
        field: '--batch',
      });
    }
    const t0 = performance.now();
    const read = async (flag: 'guest' | 'host') => {
      const file = str(options, flag);
      const r = await readCsvFileDetailed(resolve(ctx.cwd, file), {
        file,
        idColumn,
        defaultRole: 'ignored',
        // repeats are kept here and dropped (and counted) by PSI's own preparation
        duplicateIds: 'report',
        // with explicit USCCs and without --skip-invalid, the reader checks every id and names the
        // exact line of a bad one; otherwise PSI's preparation does
        idFormat: idKind === 'uscc' && !skip ? 'uscc' : 'none',
        delimiter,
        onProgress: ctx.progress,
      });
      if (r.table.nRows === 0) {
        throw new FedscoreError('csv_schema', `no rows in ${file} (the file holds a header only)`, {
          file,
          line: 2,
        });
      }
      return { file, ids: r.table.ids, lines: r.lines };
    };
    const guestIn = await read('guest');
    const hostIn = await read('host');
    // Each party resolves its own kind from its own ids (never from the other file).
    // Line numbers for skipped ids: the file line each row started on (blank lines and quoted line
    // breaks counted).
    const prep = (who: string, file: string, ids: readonly string[], lines: Int32Array) => {
      const kind = resolveIdKind(ids, idKind);
      if (kind.requested === 'auto' && kind.idKind === 'opaque') {
        ctx.logger.info(`${who} ids are mostly not USCCs: prepared as opaque ids`, {
          file,
          validUscc: kind.validUscc,
          ids: kind.nonBlank,
        });
      }
      return prepareIds(ids, {
        idKind: kind.idKind,
        ...(kind.idKind === 'opaque' && { caseFold }),
        file,
        field: idColumn,
        invalid: skip ? ('skip' as const) : ('error' as const),
        lineOf: (row: number) => lines[row] ?? row + 2,
      });
    };
    const guest = prep('guest', guestIn.file, guestIn.ids, guestIn.lines);
    const host = prep('host', hostIn.file, hostIn.ids, hostIn.lines);

    const pool = await BlindingPool.create(threads === undefined ? {} : { threads });
    try {
      let hostCache: PsiHostCache | undefined;
      let cacheStatus: 'none' | 'reused' | 'built' = 'none';
      const cacheFile = optStr(options, 'host-cache');
      if (cacheFile !== undefined) {
        const path = resolve(ctx.cwd, cacheFile);
        const existing = await readIfExists(path);
        if (existing !== undefined) {
          hostCache = decodeHostCache(existing);
          try {
            checkHostCache(hostCache, host);
            // The cached key's rotation (30 days / 100 sessions): past it, rotate to a fresh key.
            checkHostCacheRotation(hostCache);
            cacheStatus = 'reused';
          } catch (e) {
            const code = e instanceof FedscoreError ? e.code : undefined;
            if (code !== 'psi_cache_mismatch' && code !== 'psi_key_expired') throw e;
            ctx.logger.warn(
              code === 'psi_key_expired'
                ? 'host cache key is past its rotation; rebuilding it with a fresh key'
                : 'host cache is stale; rebuilding it',
              { file: cacheFile, keyId: hostCache.key.id },
            );
            hostCache = undefined;
          }
        }
        if (hostCache === undefined) {
          hostCache = await buildHostCache(host, {
            pool,
            batchSize,
            logger: ctx.logger,
            progress: ctx.progress,
          });
          await writeCache(path, hostCache, cacheFile);
          cacheStatus = 'built';
        }
      }

      const r = await runPsiLocal(guest, host, {
        pool,
        mode,
        batchSize,
        ...(hostCache !== undefined && { hostCache }),
        logger: ctx.logger,
        progress: ctx.progress,
      });
      // The session was counted against the cached key: persist the count for its rotation.
      if (hostCache !== undefined && cacheFile !== undefined) {
        await writeCache(resolve(ctx.cwd, cacheFile), hostCache, cacheFile);
      }

      const out = optStr(options, 'out');
      if (out !== undefined) {
        const ids = r.guest.intersection ?? [];
        const guestRows = r.guest.rows ?? new Uint32Array(0);
        const hostRows = r.host.rows;
        const header = hostRows ? ['id', 'guest_line', 'host_line'] : ['id', 'guest_line'];
        await writeCsvFile(resolve(ctx.cwd, out), {
          header,
          rows: (function* () {
            for (let i = 0; i < ids.length; i++) {
              const row: (string | number)[] = [ids[i]!, guestRows[i]! + 2];
              if (hostRows) row.push(hostRows[i]! + 2);
              yield row;
            }
          })(),
        });
      }

      const seconds = (performance.now() - t0) / 1000;
      ctx.print(
        `guest ${r.guest.ownCount} ids, host ${r.host.ownCount} ids, intersection ${r.guest.intersectionSize} (${mode}, ${r.guest.idKind}${r.guest.caseFold ? ', case-folded' : ''} ids) in ${seconds.toFixed(2)} s`,
      );
      for (const [who, rep] of [
        ['guest', r.guest.report],
        ['host', r.host.report],
      ] as const) {
        if (rep.invalid.count > 0) ctx.print(`${who}: skipped ${rep.invalid.count} invalid ids`);
        if (rep.duplicates.count > 0) ctx.print(`${who}: dropped ${rep.duplicates.count} repeated ids`);
      }
      if (out !== undefined) ctx.print(`wrote ${out}`);
      return {
        guest: r.guest.ownCount,
        host: r.host.ownCount,
        intersection: r.guest.intersectionSize,
        seconds: Number(seconds.toFixed(3)),
        mode,
        idKind: r.guest.idKind,
        caseFold: r.guest.caseFold,
        protocolSeconds: Number(r.seconds.toFixed(3)),
        bytes: r.bytes,
        guestIds: summary(r.guest.report),
        hostIds: summary(r.host.report),
        hostCache: cacheStatus,
        ...(out !== undefined && { out }),
      };
    } finally {
      await pool.close();
    }
  },
};

function summary(report: IdSetReport): Record<string, unknown> {
  return {
    rows: report.rows,
    distinct: report.distinct,
    invalid: report.invalid.count,
    invalidLines: report.invalid.examples.map((e) => e.line),
    duplicates: report.duplicates.count,
    duplicateLines: report.duplicates.examples.map((e) => e.line),
  };
}

async function readIfExists(path: string): Promise<Uint8Array | undefined> {
  try {
    await stat(path);
  } catch {
    return undefined;
  }
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    throw new FedscoreError('io', `cannot read the host cache (${(e as Error).message})`, {
      file: path,
      cause: e,
    });
  }
}

/** Write a host cache with its key (mode 0600: protect it like the key). */
async function writeCache(path: string, cache: PsiHostCache, file: string): Promise<void> {
  try {
    await writeFile(path, encodeHostCache(cache, { includeSecretKey: true }), { mode: 0o600 });
    await chmod(path, 0o600);
  } catch (e) {
    throw new FedscoreError('io', `cannot write the host cache (${(e as Error).message})`, {
      file,
      cause: e,
    });
  }
}

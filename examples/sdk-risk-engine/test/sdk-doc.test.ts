/**
 * docs/sdk.md cannot drift from what the tests run, checked in seconds (the packed-install test, which
 * runs the example from the installed tarballs, takes minutes and does not run on every edit):
 *
 * - the page's two TypeScript listings are, byte for byte, the files that
 *   examples/sdk-risk-engine/test/pack-install.test.ts runs from a fresh project (the risk-engine example)
 *   and that message-bus-channel.test.ts runs the online protocol over (the bank's own Channel);
 * - the install table names every published package (a package added to the workspace and missing from
 *   the page is a bank's engineer installing too few tarballs);
 * - the wire-format table gives every field of `fedscore.Envelope` with the number and name of
 *   packages/wire/proto/envelope.proto, and the `Channel` interface shown lists the methods of core's.
 *
 * References are the files themselves, read independently of the page.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXAMPLE, publishablePackages, ROOT } from '../../../scripts/pack-install.ts';

const doc = readFileSync(join(ROOT, 'docs', 'sdk.md'), 'utf8');

/** The fenced blocks of `lang` in a Markdown page, each without its fences. */
function fencedBlocks(markdown: string, lang: string): string[] {
  const out: string[] = [];
  const re = new RegExp(`^\`\`\`${lang}\\n([\\s\\S]*?)^\`\`\`$`, 'gm');
  for (const m of markdown.matchAll(re)) out.push(m[1]!);
  return out;
}

/** The rows of the Markdown table that follows `header` (a line starting with it), as trimmed cells. */
function tableAfter(markdown: string, header: string): string[][] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => l.startsWith(header));
  expect(start, `no table headed '${header}' in docs/sdk.md`).toBeGreaterThanOrEqual(0);
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(
      line
        .split('|')
        .slice(1, -1)
        .map((c) => c.trim()),
    );
  }
  return rows;
}

describe('docs/sdk.md matches the code it shows', () => {
  const blocks = fencedBlocks(doc, 'ts');

  it('the risk-engine listing is exactly examples/sdk-risk-engine/src/risk-engine.ts (the file the packed-install test runs)', () => {
    const file = readFileSync(EXAMPLE, 'utf8');
    const listing = blocks.find((b) => b.includes("docs/sdk.md's example"));
    expect(listing, 'no risk-engine listing in docs/sdk.md').toBeDefined();
    expect(listing).toBe(file);
  });

  it('the Channel listing is exactly examples/sdk-risk-engine/src/message-bus-channel.ts', () => {
    const file = readFileSync(
      join(ROOT, 'examples', 'sdk-risk-engine', 'src', 'message-bus-channel.ts'),
      'utf8',
    );
    const listing = blocks.find((b) => b.includes('export function channelOverTransport'));
    expect(listing, 'no message-bus channel listing in docs/sdk.md').toBeDefined();
    expect(listing).toBe(file);
  });

  it('the install table names every published package, each once', () => {
    const named = tableAfter(doc, '| package |').map((r) => r[0]!.replace(/`/g, ''));
    expect([...named].sort()).toEqual(
      publishablePackages()
        .map((p) => p.name)
        .sort(),
    );
    const count = publishablePackages().length;
    const words = [
      'zero',
      'one',
      'two',
      'three',
      'four',
      'five',
      'six',
      'seven',
      'eight',
      'nine',
      'ten',
      'eleven',
      'twelve',
      'thirteen',
      'fourteen',
      'fifteen',
    ];
    expect(doc).toContain(`Install all ${words[count] ?? String(count)} tarballs`);
  });

  it('the wire-format table gives the fields of fedscore.Envelope with their numbers', () => {
    const proto = readFileSync(join(ROOT, 'packages', 'wire', 'proto', 'envelope.proto'), 'utf8');
    const body = /message Envelope \{([\s\S]*?)\n\}/.exec(proto)![1]!;
    const fromProto = new Map<string, number>();
    for (const m of body.matchAll(/^\s*(?:(?:repeated|optional)\s+)?[\w.]+\s+(\w+)\s*=\s*(\d+);/gm)) {
      fromProto.set(m[1]!, Number(m[2]));
    }
    expect(fromProto.size).toBeGreaterThanOrEqual(8);
    const fromDoc = new Map<string, number>();
    for (const [numbers, fields] of tableAfter(doc, '| # | field |')) {
      const ns = numbers!.split(',').map((n) => Number(n.trim()));
      const names = [...fields!.matchAll(/`(\w+)`/g)].map((m) => m[1]!);
      expect(names.length, `row '${numbers}'`).toBe(ns.length);
      for (const [i, name] of names.entries()) fromDoc.set(name, ns[i]!);
    }
    expect(fromDoc).toEqual(fromProto);
  });

  it("the Channel interface shown has core's members", () => {
    const core = readFileSync(join(ROOT, 'packages', 'core', 'src', 'channel.ts'), 'utf8');
    const members = (src: string) =>
      [.../interface Channel \{([\s\S]*?)\n\}/.exec(src)![1]!.matchAll(/^\s*(?:readonly\s+)?(\w+)[(:]/gm)]
        .map((m) => m[1]!)
        .sort();
    const shown = blocks.find((b) => b.startsWith('interface Channel {'));
    expect(shown, 'no Channel interface listing in docs/sdk.md').toBeDefined();
    expect(members(shown!)).toEqual(members(core));
    expect(members(core)).toEqual(['close', 'party', 'receive', 'send', 'stats']);
  });
});

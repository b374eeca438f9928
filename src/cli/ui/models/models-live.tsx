/**
 * The container of `oo-ml models` on a terminal: lists the registry once, loads the selected
 * version's details on demand (cached), and handles the keys (↑/↓, c, q). A registry error is
 * shown in the view, never thrown at the user.
 */
import { useApp, useInput, useStdout } from 'ink';
import type { ViewEnd } from '../live-terminal.js';
import { runView } from '../run-view.js';
import { useEffect, useRef, useState } from 'react';
import type { ListedModel } from '../../../models/model-listing.js';
import { versionDetails, type VersionDetails } from '../../../models/version-details.js';
import type { Store } from '../../../registry/store.js';
import { browserRows, ModelsView } from './ModelsView.js';

/** The browser over a listing (exported for tests). */
export function Browser({ store, models, onInterrupt }: { store: Store; models: readonly ListedModel[]; onInterrupt?: () => void }) {
  const { exit } = useApp();
  const { stdout } = useStdout();
  const size = (): { columns: number; height: number } => ({ columns: stdout.columns ?? 120, height: stdout.rows ?? 40 });
  const [terminal, setTerminal] = useState(size);
  useEffect(() => {
    const resized = (): void => setTerminal(size());
    stdout.on('resize', resized);
    return () => {
      stdout.off('resize', resized);
    };
  }, [stdout]);
  const rows = browserRows(models);
  const [selected, setSelected] = useState(0);
  const [cache, setCache] = useState<Map<string, VersionDetails>>(new Map());
  const [compareKey, setCompareKey] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const keyOf = (i: number): string | null => (rows[i] === undefined ? null : `${rows[i]!.model}/${rows[i]!.version}`);
  const current = keyOf(selected);

  useEffect(() => {
    if (current === null || cache.has(current)) return;
    const row = rows[selected]!;
    const listed = models.find((m) => m.name === row.model)!.versions.find((v) => v.version === row.version)!;
    let live = true;
    versionDetails(store, row.model, listed).then(
      (d) => live && setCache((c) => new Map(c).set(current, d)),
      (e: unknown) => live && setError(`cannot read ${current}: ${e instanceof Error ? e.message : String(e)}`),
    );
    return () => {
      live = false;
    };
  }, [current]);

  // The selection as the keys left it: a key can come before the render of the one before it,
  // whose handler would still see the old selection.
  const selectedRef = useRef(selected);
  const select = (at: number): void => {
    selectedRef.current = Math.max(0, Math.min(rows.length - 1, at));
    setSelected(selectedRef.current);
  };
  useInput((input, key) => {
    if (key.ctrl && input === 'c') {
      onInterrupt?.();
      return exit();
    }
    if (key.escape) return exit();
    if (key.downArrow) return select(selectedRef.current + 1);
    if (key.upArrow) return select(selectedRef.current - 1);
    // Keys held down, pasted or typed while busy arrive as one string: each counts, in order
    // (a `c` after a `j` marks the row the `j` moved to).
    for (const ch of input) {
      if (ch === 'q') return exit();
      if (ch === 'j') select(selectedRef.current + 1);
      else if (ch === 'k') select(selectedRef.current - 1);
      else if (ch === 'c') {
        const here = keyOf(selectedRef.current);
        setCompareKey((k) => (k === here ? null : here));
      }
    }
  });

  return (
    <ModelsView
      models={models}
      rows={rows}
      selected={selected}
      details={current === null ? null : (cache.get(current) ?? null)}
      marked={compareKey === null ? null : (rows.find((r) => `${r.model}/${r.version}` === compareKey) ?? null)}
      compare={compareKey === null || compareKey === current ? null : (cache.get(compareKey) ?? null)}
      error={error}
      columns={terminal.columns}
      height={terminal.height}
    />
  );
}

/** Runs the browser on the terminal until q, Esc or Ctrl-C; says which ended it. */
export function browseModels(store: Store, models: readonly ListedModel[]): Promise<ViewEnd> {
  return runView((onInterrupt) => <Browser store={store} models={models} onInterrupt={onInterrupt} />);
}

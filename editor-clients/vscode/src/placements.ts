// The placement choice (cluster and namespace) for dev mode and logs when a component runs in
// several: which commands ask, what the quick pick lists, and the argument it produces.
// Pure: no vscode import, unit-tested.

export interface PlacementJson {
  cluster: string;
  namespace: string;
}

/** Server commands that act on one placement of a component (they take `cluster`/`namespace`). */
export const PLACED_COMMANDS: readonly string[] = [
  "veladev.dev.up", "veladev.dev.start", "veladev.dev.run", "veladev.dev.debug", "veladev.dev.terminal",
  "veladev.dev.stopRun", "veladev.dev.end", "veladev.logs",
];

type Argument = Record<string, unknown>;

/** The argument object to ask placements for, or undefined when no choice is needed (the
 *  command names its cluster already, or has no file to ask about). */
export function placementQuery(args: readonly unknown[]): { uri: string; component?: string } | undefined {
  const a = args[0] as Argument | undefined;
  if (args.length !== 1 || !a || typeof a !== "object" || typeof a.uri !== "string" || typeof a.cluster === "string") {
    return undefined;
  }
  return typeof a.component === "string" ? { uri: a.uri, component: a.component } : { uri: a.uri };
}

/** The server's answer, kept to well-formed entries. */
export function readPlacements(result: unknown): PlacementJson[] {
  return Array.isArray(result)
    ? result.filter((p): p is PlacementJson =>
      typeof p === "object" && p !== null && typeof p.cluster === "string" && typeof p.namespace === "string")
    : [];
}

/** Quick pick entries: the cluster as the label, its namespace beside it. */
export function placementItems(placements: readonly PlacementJson[]): Array<{ label: string; description: string; placement: PlacementJson }> {
  return placements.map((p) => ({ label: p.cluster, description: p.namespace, placement: p }));
}

/** The command's arguments with the chosen placement. */
export function withPlacement(args: readonly unknown[], p: PlacementJson): unknown[] {
  return [{ ...(args[0] as Argument), cluster: p.cluster, namespace: p.namespace }];
}

/** A log stream's output channel name: "veladev logs: web @ edge-1/shop". */
export function logChannelName(p: { component?: string; cluster?: string; namespace?: string }): string {
  return `veladev logs: ${p.component ?? "app"} @ ${p.cluster ?? "local"}${p.namespace ? `/${p.namespace}` : ""}`;
}

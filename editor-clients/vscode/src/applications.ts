// The KubeVela view's model: Applications with phase, components with dev state, workflow steps
// with state. Pure: no vscode import, unit-tested.
import type { DevStateParams } from "./devState";

export interface StepJson {
  name: string;
  type: string;
  phase: string;
  message?: string;
  subSteps?: StepJson[];
}

export interface ServiceJson {
  component: string;
  cluster: string;
  namespace: string;
  health: "healthy" | "unhealthy" | "unreachable";
  message?: string;
}

export interface StepPlacementJson {
  step: string;
  error?: string;
  placements: Array<{ cluster: string; namespace: string; reach?: string }>;
}

export interface ApplicationJson {
  namespace: string;
  name: string;
  phase: string;
  workflow: string;
  components: string[];
  steps: StepJson[];
  /** Health per component x cluster (`local` is the hub). */
  services?: ServiceJson[];
  /** Each deploy step's clusters; null when the hub's clusters could not be listed. */
  placements?: StepPlacementJson[] | null;
}

export interface Node {
  kind: "application" | "component" | "cluster" | "step" | "message";
  label: string;
  description: string;
  /** VS Code `contextValue`: menus match it (an inline Promote on "step-suspending"). */
  context: string;
  icon: string;
  application?: { namespace: string; name: string };
  step?: string;
  /** On a component and its cluster rows: the component (dev mode and logs act on it). */
  component?: string;
  /** On a cluster row: where (dev mode and logs there skip the placement choice). */
  placement?: { cluster: string; namespace: string };
  children: Node[];
}

const STEP_ICONS: Record<string, string> = {
  succeeded: "pass", failed: "error", running: "sync~spin", suspending: "debug-pause", pending: "circle-outline",
  skipped: "debug-step-over",
};

const HEALTH_ICONS: Record<string, string> = { healthy: "pass", unhealthy: "error", unreachable: "warning" };

/** "→ edge-2/prod, edge-3/prod (unreachable)" for a deploy step placed beyond the hub, else "". */
export function placementText(p: StepPlacementJson | undefined): string {
  if (!p) {
    return "";
  }
  if (p.error) {
    return `→ ${p.error}`;
  }
  if (p.placements.every((x) => x.cluster === "local")) {
    return "";
  }
  return `→ ${p.placements.map((x) => `${x.cluster}/${x.namespace}${x.reach ? ` (${x.reach})` : ""}`).join(", ")}`;
}

function stepNode(app: { namespace: string; name: string }, s: StepJson, placed: Map<string, StepPlacementJson>): Node {
  const where = placementText(placed.get(s.name));
  return {
    kind: "step", label: s.name,
    description: [`${s.phase}${s.message ? ` · ${s.message}` : ""}`, where].filter(Boolean).join(" · "),
    context: `step-${s.phase}`, icon: STEP_ICONS[s.phase] ?? "circle-outline", application: app, step: s.name,
    children: (s.subSteps ?? []).map((c) => stepNode(app, c, placed)),
  };
}

/** A component's rows per cluster (component x cluster), when the app runs beyond the hub. */
function clusterNodes(app: { namespace: string; name: string }, component: string, services: ServiceJson[]): Node[] {
  if (services.every((s) => s.cluster === "local")) {
    return [];
  }
  return services.filter((s) => s.component === component).map((s) => ({
    kind: "cluster", label: s.cluster,
    description: `${s.namespace} · ${s.health}${s.message && s.health !== "healthy" ? ` · ${s.message}` : ""}`,
    context: `cluster-${s.health}`, icon: HEALTH_ICONS[s.health] ?? "circle-outline", application: app,
    component, placement: { cluster: s.cluster, namespace: s.namespace }, children: [],
  }));
}

export function applicationNodes(apps: ApplicationJson[], dev: ReadonlyMap<string, DevStateParams>): Node[] {
  return apps.map((a) => {
    const ref = { namespace: a.namespace, name: a.name };
    const services = a.services ?? [];
    const placed = new Map((a.placements ?? []).map((p) => [p.step, p]));
    const components: Node[] = a.components.map((c) => {
      const d = dev.get(c);
      const state = d && d.state !== "off" ? `dev ${d.state}${d.sync?.state ? ` · sync ${d.sync.state}` : ""}` : "";
      return { kind: "component", label: c, description: state, context: d?.state === "on" ? "component-dev" : "component",
               icon: d?.state === "on" ? "tools" : "package", application: ref, component: c,
               children: clusterNodes(ref, c, services) };
    });
    return {
      kind: "application", label: a.name, description: `${a.namespace} · ${a.phase || "no status yet"}`,
      context: "application", icon: "rocket", application: ref,
      children: [...components, ...a.steps.map((s) => stepNode(ref, s, placed))],
    };
  });
}

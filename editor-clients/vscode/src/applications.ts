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

export interface ApplicationJson {
  namespace: string;
  name: string;
  phase: string;
  workflow: string;
  components: string[];
  steps: StepJson[];
}

export interface Node {
  kind: "application" | "component" | "step" | "message";
  label: string;
  description: string;
  /** VS Code `contextValue`: menus match it (an inline Promote on "step-suspending"). */
  context: string;
  icon: string;
  application?: { namespace: string; name: string };
  step?: string;
  children: Node[];
}

const STEP_ICONS: Record<string, string> = {
  succeeded: "pass", failed: "error", running: "sync~spin", suspending: "debug-pause", pending: "circle-outline",
  skipped: "debug-step-over",
};

function stepNode(app: { namespace: string; name: string }, s: StepJson): Node {
  return {
    kind: "step", label: s.name, description: `${s.phase}${s.message ? ` · ${s.message}` : ""}`,
    context: `step-${s.phase}`, icon: STEP_ICONS[s.phase] ?? "circle-outline", application: app, step: s.name,
    children: (s.subSteps ?? []).map((c) => stepNode(app, c)),
  };
}

export function applicationNodes(apps: ApplicationJson[], dev: ReadonlyMap<string, DevStateParams>): Node[] {
  return apps.map((a) => {
    const ref = { namespace: a.namespace, name: a.name };
    const components: Node[] = a.components.map((c) => {
      const d = dev.get(c);
      const state = d && d.state !== "off" ? `dev ${d.state}${d.sync?.state ? ` · sync ${d.sync.state}` : ""}` : "";
      return { kind: "component", label: c, description: state, context: d?.state === "on" ? "component-dev" : "component",
               icon: d?.state === "on" ? "tools" : "package", application: ref, children: [] };
    });
    return {
      kind: "application", label: a.name, description: `${a.namespace} · ${a.phase || "no status yet"}`,
      context: "application", icon: "rocket", application: ref,
      children: [...components, ...a.steps.map((s) => stepNode(ref, s))],
    };
  });
}

import * as vscode from "vscode";
import { ApplicationJson, applicationNodes, Node } from "../applications";
import { devStateChanged, devStates } from "./devMode";
import type { Extra } from "./index";

/**
 * The KubeVela view (activity bar): Applications of `veladev.namespaces` with their phase,
 * components with dev state, workflow steps with state and an inline Promote on a suspended step.
 * Refreshed on dev-state changes, after each veladev command, and every few seconds while visible.
 */
export const kubevelaView: Extra = {
  id: "kubevelaView",
  activate: ({ client }) => {
    const changed = new vscode.EventEmitter<Node | undefined>();
    let nodes: Node[] = [];
    let message = "";

    const load = async () => {
      const lc = client.languageClient;
      if (!lc) {
        message = "Open a KubeVela Application to start veladev.";
      } else {
        const namespaces = vscode.workspace.getConfiguration("veladev").get<string[]>("namespaces") ?? ["default"];
        try {
          const result = await vscode.commands.executeCommand<{ ok: boolean; message?: string; applications: ApplicationJson[] }>(
            "veladev.applications", { namespaces });
          message = result?.ok ? "" : result?.message ?? "no answer";
          nodes = result?.ok ? applicationNodes(result.applications, devStates) : [];
        } catch (err) {
          message = err instanceof Error ? err.message : String(err);
          nodes = [];
        }
      }
      changed.fire(undefined);
    };

    const provider: vscode.TreeDataProvider<Node> = {
      onDidChangeTreeData: changed.event,
      getChildren: (node) => {
        if (node) {
          return node.children;
        }
        if (message) {
          return [{ kind: "message", label: message, description: "", context: "message", icon: "info", children: [] }];
        }
        return nodes;
      },
      getTreeItem: (node) => {
        const item = new vscode.TreeItem(node.label, node.children.length
          ? (node.kind === "application" ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.Collapsed)
          : vscode.TreeItemCollapsibleState.None);
        item.description = node.description;
        item.contextValue = node.context;
        item.iconPath = new vscode.ThemeIcon(node.icon);
        item.tooltip = `${node.label}: ${node.description}`;
        return item;
      },
    };
    const view = vscode.window.createTreeView("veladev.applications", { treeDataProvider: provider, showCollapseAll: true });
    const timer = setInterval(() => { if (view.visible) { void load(); } }, 3000);
    client.onDidChangeClient((lc) => {
      void vscode.commands.executeCommand("setContext", "veladev.serverRunning", lc !== undefined);
      void load();
    });
    const reloadAfter = ["veladev.deploy", "veladev.promote", "veladev.pushAndTrigger", "veladev.workflow.terminate",
      "veladev.workflow.restart", "veladev.dev.up", "veladev.dev.start", "veladev.dev.end"];
    reloadAfter.forEach((c) => client.onCommandResult(c, () => void load()));
    return [
      view, changed,
      devStateChanged.event(() => void load()),
      view.onDidChangeVisibility(() => { if (view.visible) { void load(); } }),
      { dispose: () => clearInterval(timer) },
      vscode.commands.registerCommand("veladev.view.refresh", () => load()),
      vscode.commands.registerCommand("veladev.view.promote", (node: Node) =>
        node?.application && vscode.commands.executeCommand("veladev.promote",
          { namespace: node.application.namespace, application: node.application.name, step: node.step })),
    ];
  },
};

import * as vscode from "vscode";
import { DevStateParams, statusBarText, statusBarTooltip, terminalArgv, terminalText } from "../devState";
import type { Extra } from "./index";

/** Dev states by component, shared with the KubeVela view. */
export const devStates = new Map<string, DevStateParams>();
export const devStateChanged = new vscode.EventEmitter<void>();

/**
 * Dev mode in the UI: a status bar item with dev and sync state (veladev/devState), run output in
 * a terminal per component (veladev/runOutput), "Terminal" opens an integrated terminal running
 * the command the server returns, "Debug" starts VS Code's debugger with the returned attach
 * configuration.
 */
export const devMode: Extra = {
  id: "devMode",
  activate: ({ client }) => {
    const item = vscode.window.createStatusBarItem("veladev.devState", vscode.StatusBarAlignment.Left, 50);
    item.name = "veladev dev mode";
    item.command = "veladev.showServerLog";
    const outputs = new Map<string, { write: vscode.EventEmitter<string>; terminal: vscode.Terminal }>();

    const runTerminal = (component: string) => {
      let out = outputs.get(component);
      if (!out || out.terminal.exitStatus !== undefined) {
        const write = new vscode.EventEmitter<string>();
        const pty: vscode.Pseudoterminal = { onDidWrite: write.event, open: () => undefined, close: () => outputs.delete(component) };
        const terminal = vscode.window.createTerminal({ name: `veladev run: ${component}`, pty });
        out = { write, terminal };
        outputs.set(component, out);
        terminal.show(true);
      }
      return out;
    };

    client.onDidChangeClient((lc) => {
      if (!lc) {
        return;
      }
      lc.onNotification("veladev/devState", (s: DevStateParams) => {
        devStates.set(s.component, s);
        devStateChanged.fire();
        const text = statusBarText(s);
        if (text === undefined) {
          item.hide();
        } else {
          item.text = text;
          item.tooltip = statusBarTooltip(s);
          item.show();
        }
      });
      lc.onNotification("veladev/runOutput", (p: { component: string; text: string }) => {
        runTerminal(p.component).write.fire(terminalText(p.text));
      });
    });

    client.onCommandResult("veladev.dev.terminal", (result) => {
      const argv = terminalArgv(client.serverCommandLine, (result as { command?: string[] } | undefined)?.command ?? []);
      if (argv.length === 0) {
        return;
      }
      const terminal = vscode.window.createTerminal({ name: "veladev dev terminal", shellPath: argv[0], shellArgs: argv.slice(1) });
      terminal.show();
    });
    client.onCommandResult("veladev.dev.run", (_result, args) => {
      const component = (args[0] as { component?: string } | undefined)?.component;
      runTerminal(component ?? [...devStates.keys()][0] ?? "app").terminal.show(true);
    });
    client.onCommandResult("veladev.dev.debug", (result) => {
      const attach = (result as { attach?: vscode.DebugConfiguration } | undefined)?.attach;
      if (!attach) {
        return;
      }
      client.output.appendLine(`veladev: starting the debugger with ${JSON.stringify(attach)}`);
      void vscode.debug.startDebugging(vscode.workspace.workspaceFolders?.[0], attach).then((ok) => {
        if (!ok) {
          void vscode.window.showErrorMessage(
            `veladev: VS Code could not start the debugger (type ${attach.type}); the attach configuration is in the veladev log.`);
        }
      });
    });
    return [item, devStateChanged];
  },
};

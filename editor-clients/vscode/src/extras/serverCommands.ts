import * as vscode from "vscode";
import { ExecuteCommandRequest } from "vscode-languageclient/node";
import { serverCommandItems } from "../commandTitles";
import type { Extra } from "./index";

/**
 * "veladev: Run a Server Command...": a palette entry listing the commands the server announces
 * (executeCommandProvider). The command runs with the active Application's URI as its argument.
 * Code lenses and code actions that carry these commands work without this: vscode-languageclient
 * registers every announced command id with VS Code itself.
 */
export const serverCommands: Extra = {
  id: "serverCommands",
  activate: ({ client }) => [
    vscode.commands.registerCommand("veladev.runServerCommand", async () => {
      const lc = client.languageClient;
      if (!lc) {
        void vscode.window.showInformationMessage("The veladev language server is not running: open a KubeVela Application first.");
        return;
      }
      const items = serverCommandItems(lc.initializeResult?.capabilities.executeCommandProvider?.commands);
      if (items.length === 0) {
        void vscode.window.showInformationMessage("The veladev language server announces no commands yet.");
        return;
      }
      const picked = await vscode.window.showQuickPick(items, { placeHolder: "veladev server command" });
      if (!picked) {
        return;
      }
      const editor = vscode.window.activeTextEditor;
      const args = editor && client.isAttached(editor.document.uri)
        ? [lc.code2ProtocolConverter.asUri(editor.document.uri)]
        : [];
      try {
        const result = await lc.sendRequest(ExecuteCommandRequest.type, { command: picked.command, arguments: args });
        if (result !== null && result !== undefined) {
          client.output.appendLine(`${picked.command}: ${JSON.stringify(result)}`);
        }
      } catch (err) {
        void vscode.window.showErrorMessage(`${picked.command} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }),
  ],
};

import * as vscode from "vscode";
import { VELAUX_TOKEN_SECRET } from "../client";
import type { Extra } from "./index";

/** The VelaUX trigger token in SecretStorage: set or forget it; the server restarts to get it. */
export const velauxToken: Extra = {
  id: "velauxToken",
  activate: ({ extension, client }) => [
    vscode.commands.registerCommand("veladev.setVelauxToken", async () => {
      const token = await vscode.window.showInputBox({
        title: "VelaUX trigger token", prompt: "The token of the application's VelaUX webhook trigger (stored in VS Code's secret storage)",
        password: true, ignoreFocusOut: true,
      });
      if (!token) {
        return;
      }
      await extension.secrets.store(VELAUX_TOKEN_SECRET, token.trim());
      void vscode.window.showInformationMessage("veladev: VelaUX token stored; restarting the language server to use it.");
      await client.restart();
    }),
    vscode.commands.registerCommand("veladev.forgetVelauxToken", async () => {
      await extension.secrets.delete(VELAUX_TOKEN_SECRET);
      void vscode.window.showInformationMessage("veladev: VelaUX token removed.");
      await client.restart();
    }),
  ],
};

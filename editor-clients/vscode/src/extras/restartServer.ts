import * as vscode from "vscode";
import type { Extra } from "./index";

/** "veladev: Restart Language Server" (also clears a previous "not found" error). */
export const restartServer: Extra = {
  id: "restartServer",
  activate: ({ client }) => [
    vscode.commands.registerCommand("veladev.restartServer", async () => {
      client.output.appendLine("Restart requested.");
      await client.restart();
    }),
  ],
};

import * as vscode from "vscode";
import type { Extra } from "./index";

/** "veladev: Show Language Server Log": the output channel with the server's stderr and logMessages. */
export const serverLog: Extra = {
  id: "serverLog",
  activate: ({ client }) => [
    vscode.commands.registerCommand("veladev.showServerLog", () => client.output.show(true)),
  ],
};

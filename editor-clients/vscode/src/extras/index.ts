// Client-side extras: everything the extension adds on top of what the server announces.
// Each extra lives in its own module and is listed here once; later issues (dev mode,
// delivery: status items, terminals, debugging) add theirs to this list.
import * as vscode from "vscode";
import { VeladevClient } from "../client";
import { devMode } from "./devMode";
import { kubevelaView } from "./kubevelaView";
import { placementChoice } from "./placementChoice";
import { restartServer } from "./restartServer";
import { serverCommands } from "./serverCommands";
import { serverLog } from "./serverLog";
import { velauxToken } from "./velauxToken";

export interface ExtraContext {
  extension: vscode.ExtensionContext;
  client: VeladevClient;
}

export interface Extra {
  /** Short name, for the log. */
  readonly id: string;
  activate(ctx: ExtraContext): vscode.Disposable[];
}

export const EXTRAS: readonly Extra[] = [
  serverLog, restartServer, serverCommands, devMode, kubevelaView, velauxToken, placementChoice,
];

// Entry point: one output channel, one language client, and the client-side extras.
import * as vscode from "vscode";
import { VeladevClient } from "./client";
import { EXTRAS } from "./extras";

let client: VeladevClient | undefined;

export function activate(context: vscode.ExtensionContext): void {
  const output = vscode.window.createOutputChannel("veladev");
  client = new VeladevClient(context, output);
  context.subscriptions.push(output, client);
  for (const extra of EXTRAS) {
    context.subscriptions.push(...extra.activate({ extension: context, client }));
  }
  client.considerOpenDocuments();
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}

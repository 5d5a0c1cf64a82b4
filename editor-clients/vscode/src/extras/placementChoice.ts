import * as vscode from "vscode";
import { logChannelName, PLACED_COMMANDS, placementItems, placementQuery, readPlacements, withPlacement } from "../placements";
import type { Extra } from "./index";

/**
 * Dev mode and logs of a component that runs in several places: before the command goes to the
 * server, ask it where the component runs (`veladev.dev.placements`) and let the user pick the
 * cluster (and namespace) in a quick pick. A pod's log (`veladev/logOutput`) goes to an output
 * channel per component and cluster.
 */
export const placementChoice: Extra = {
  id: "placementChoice",
  activate: ({ client }) => {
    for (const command of PLACED_COMMANDS) {
      client.beforeCommand(command, async (args, call) => {
        const query = placementQuery(args);
        if (!query) {
          return args;
        }
        let placements;
        try {
          placements = readPlacements(await call("veladev.dev.placements", [query]));
        } catch (err) {
          // Not deployed, or a server without the command: the server's own answer says more.
          client.output.appendLine(`veladev: placements of ${query.component ?? "the component"}: ${String(err)}`);
          return args;
        }
        if (placements.length < 2) {
          return args;
        }
        const pick = await vscode.window.showQuickPick(placementItems(placements), {
          title: `${query.component ?? "The component"} runs in ${placements.length} places: which one?`,
          placeHolder: "cluster",
        });
        return pick ? withPlacement(args, pick.placement) : undefined;
      });
    }

    const channels = new Map<string, vscode.OutputChannel>();
    client.onDidChangeClient((lc) => {
      lc?.onNotification("veladev/logOutput", (p: { component?: string; cluster?: string; namespace?: string; text?: string }) => {
        const name = logChannelName(p);
        let channel = channels.get(name);
        if (!channel) {
          channel = vscode.window.createOutputChannel(name);
          channels.set(name, channel);
          channel.show(true);
        }
        channel.append(p.text ?? "");
      });
    });
    return [{ dispose: () => channels.forEach((c) => c.dispose()) }];
  },
};

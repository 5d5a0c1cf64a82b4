// The language client: starts `veladev lsp` when the first KubeVela Application is opened and
// shows it only those YAML documents (other YAML files never reach the server).
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import * as vscode from "vscode";
import {
  DidOpenTextDocumentNotification,
  LanguageClient,
  LanguageClientOptions,
  Middleware,
  ServerOptions,
  State,
  TransportKind,
} from "vscode-languageclient/node";
import { isCandidate, isKubeVelaApplication, SCHEMES, YAML_LANGUAGE_IDS } from "./detect";
import {
  INSTALL_DOCS_ANCHOR,
  judgeVersion,
  resolveServerCommand,
  ServerCommand,
  ServerSettings,
  versionCommand,
} from "./serverCommand";

export const CLIENT_ID = "veladev";
/** SecretStorage key of the VelaUX trigger token. */
export const VELAUX_TOKEN_SECRET = "veladev.velauxTriggerToken";

/** Provider middlewares whose first argument is the document (or its URI): answered only for Applications. */
const GATED_PROVIDERS = [
  "provideCompletionItem", "provideHover", "provideDefinition", "provideDeclaration", "provideTypeDefinition",
  "provideImplementation", "provideReferences", "provideDocumentHighlights", "provideDocumentSymbols",
  "provideCodeActions", "provideCodeLenses", "provideDocumentLinks", "provideSignatureHelp",
  "provideDocumentFormattingEdits", "provideDocumentRangeFormattingEdits", "provideOnTypeFormattingEdits",
  "provideRenameEdits", "prepareRename", "provideFoldingRanges", "provideSelectionRanges",
  "provideDocumentSemanticTokens", "provideDocumentRangeSemanticTokens", "provideInlayHints",
  "provideDocumentColors", "provideColorPresentations", "provideLinkedEditingRange", "provideInlineValues",
  "provideDiagnostics", // pull diagnostics: its first argument is a document or a URI
];

/** Completes a command's arguments; `call` runs another server command. */
export type ArgumentHook = (
  args: unknown[], call: (command: string, args: unknown[]) => Promise<unknown>,
) => Promise<unknown[] | undefined>;

export class VeladevClient implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private starting: Promise<void> | undefined;
  /** URIs (as strings) of the documents the server has been shown. */
  private readonly attached = new Set<string>();
  private readonly disposables: vscode.Disposable[] = [];
  private readonly stateListeners: Array<(client: LanguageClient | undefined) => void> = [];
  private readonly resultListeners = new Map<string, Array<(result: unknown, args: unknown[]) => void>>();
  private readonly argumentHooks = new Map<string, ArgumentHook>();
  private lastError: string | undefined;
  private startedWith: ServerCommand | undefined;

  constructor(
    private readonly context: vscode.ExtensionContext,
    readonly output: vscode.OutputChannel,
  ) {
    this.disposables.push(
      vscode.workspace.onDidOpenTextDocument((doc) => this.consider(doc)),
      vscode.workspace.onDidChangeTextDocument((e) => this.consider(e.document)),
      vscode.workspace.onDidChangeConfiguration((e) => {
        // Only a real change of the server's command restarts it.
        if (!e.affectsConfiguration("veladev.server") || !this.startedWith) {
          return;
        }
        // code-server fires this when a debug session starts, and for a moment reads the
        // settings without the user's values: decide on what they are a little later.
        setTimeout(() => {
          const now = this.serverCommand();
          if (this.startedWith && JSON.stringify(now) !== JSON.stringify(this.startedWith)) {
            const seen = vscode.workspace.getConfiguration("veladev.server").inspect("command");
            this.output.appendLine(`veladev.server settings changed (${JSON.stringify(seen)}): restarting the language server`);
            void this.restart();
          }
        }, 2000);
      }),
    );
  }

  /** The running client, if any. */
  get languageClient(): LanguageClient | undefined {
    return this.client;
  }

  isAttached(uri: vscode.Uri): boolean {
    return this.attached.has(uri.toString());
  }

  onDidChangeClient(listener: (client: LanguageClient | undefined) => void): void {
    this.stateListeners.push(listener);
  }

  /** The command the running server was started with (its `veladev` runs dev terminals). */
  get serverCommandLine(): ServerCommand | undefined {
    return this.startedWith;
  }

  /**
   * Calls `listener` with the result of every run of server command `command`, however it was
   * started (a code lens, the palette, the view): Debug and Terminal act on what they return.
   */
  onCommandResult(command: string, listener: (result: unknown, args: unknown[]) => void): void {
    const list = this.resultListeners.get(command) ?? [];
    list.push(listener);
    this.resultListeners.set(command, list);
  }

  /**
   * Lets an extra complete the arguments of server command `command` before they are sent (the
   * placement choice); the hook returns the arguments to send, or undefined to cancel.
   */
  beforeCommand(command: string, hook: ArgumentHook): void {
    this.argumentHooks.set(command, hook);
  }

  /** The object argument server commands take, for the active Application editor. */
  activeApplicationArgument(): { uri: string } | undefined {
    const editor = vscode.window.activeTextEditor;
    if (!editor || !this.client || !this.isAttached(editor.document.uri)) {
      return undefined;
    }
    return { uri: this.client.code2ProtocolConverter.asUri(editor.document.uri) };
  }

  /** Starts the server if an already-open document is an Application. */
  considerOpenDocuments(): void {
    vscode.workspace.textDocuments.forEach((doc) => this.consider(doc));
  }

  private consider(doc: vscode.TextDocument): void {
    if (this.client || this.starting || this.lastError) {
      return;
    }
    if (isCandidate(doc.languageId, doc.uri.scheme) && isKubeVelaApplication(doc.getText())) {
      void this.start();
    }
  }

  async start(): Promise<void> {
    if (this.client) {
      return;
    }
    if (!this.starting) {
      this.starting = this.doStart().finally(() => {
        this.starting = undefined;
      });
    }
    return this.starting;
  }

  async restart(): Promise<void> {
    await this.stop();
    this.lastError = undefined;
    this.considerOpenDocuments();
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.attached.clear();
    if (client) {
      try {
        await client.stop();
      } catch (err) {
        this.output.appendLine(`stopping the language server: ${String(err)}`);
      }
      this.stateListeners.forEach((l) => l(undefined));
    }
  }

  private serverCommand(): ServerCommand {
    const config = vscode.workspace.getConfiguration("veladev.server");
    const settings: ServerSettings = {
      command: config.get<string[] | string>("command"),
      pythonPath: config.get<string>("pythonPath"),
    };
    const folders = (vscode.workspace.workspaceFolders ?? [])
      .filter((f) => f.uri.scheme === "file")
      .map((f) => f.uri.fsPath);
    return resolveServerCommand(settings, folders, existsSync);
  }

  private checkVersion(server: ServerCommand): Promise<ReturnType<typeof judgeVersion>> {
    const probe = versionCommand(server);
    return new Promise((resolve) => {
      execFile(probe.command, probe.args, { timeout: 30000 }, (error, stdout, stderr) => {
        const code = (error as NodeJS.ErrnoException | null)?.code;
        resolve(judgeVersion(server, `${stdout}\n${stderr}`, error ? { code, message: error.message } : undefined));
      });
    });
  }

  private async doStart(): Promise<void> {
    const server = this.serverCommand();
    const verdict = await this.checkVersion(server);
    if (!verdict.ok) {
      this.lastError = verdict.message;
      this.output.appendLine(verdict.message);
      void this.explainMissingServer(verdict.message);
      return;
    }
    this.output.appendLine(`Starting ${server.command} ${server.args.join(" ")} (veladev ${verdict.version}, from ${server.origin})`);

    // The VelaUX trigger token lives in SecretStorage and reaches the server through its
    // environment only: never a setting, never in the protocol (so never in a trace).
    const token = await this.context.secrets.get(VELAUX_TOKEN_SECRET);
    const serverOptions: ServerOptions = {
      command: server.command,
      args: server.args,
      transport: TransportKind.stdio,
      options: token ? { env: { ...process.env, VELAUX_TRIGGER_TOKEN: token } } : undefined,
    };
    const documentSelector = YAML_LANGUAGE_IDS.flatMap((language) => SCHEMES.map((scheme) => ({ language, scheme })));
    const clientOptions: LanguageClientOptions = {
      documentSelector,
      synchronize: { configurationSection: "veladev" },
      outputChannel: this.output,
      traceOutputChannel: this.output,
      middleware: this.middleware(),
    };
    const client = new LanguageClient(CLIENT_ID, "veladev", serverOptions, clientOptions);
    client.onDidChangeState((e) => {
      if (e.newState === State.Stopped && this.client === client) {
        this.output.appendLine("The language server stopped.");
      }
    });
    this.client = client;
    this.startedWith = server;
    try {
      await client.start();
    } catch (err) {
      this.client = undefined;
      this.lastError = `The veladev language server failed to start: ${String(err)}`;
      this.output.appendLine(this.lastError);
      void this.explainMissingServer(this.lastError);
      return;
    }
    this.stateListeners.forEach((l) => l(client));
  }

  private async explainMissingServer(message: string): Promise<void> {
    const install = "Open install guide";
    const settings = "Open settings";
    const choice = await vscode.window.showErrorMessage(message, install, settings);
    if (choice === install) {
      // vsce stores the README as readme.md inside the .vsix.
      const name = existsSync(vscode.Uri.joinPath(this.context.extensionUri, "readme.md").fsPath) ? "readme.md" : "README.md";
      const readme = vscode.Uri.joinPath(this.context.extensionUri, name).with({ fragment: INSTALL_DOCS_ANCHOR });
      await vscode.commands.executeCommand("markdown.showPreview", readme);
    } else if (choice === settings) {
      await vscode.commands.executeCommand("workbench.action.openSettings", "veladev.server");
    }
  }

  /** Shows the server Applications only; the decision is re-made while a document is edited. */
  private middleware(): Middleware {
    const attached = this.attached;
    const isApp = (doc: vscode.TextDocument) => isKubeVelaApplication(doc.getText());
    const middleware: Middleware = {
      didOpen: async (doc, next) => {
        if (isApp(doc)) {
          attached.add(doc.uri.toString());
          return next(doc);
        }
      },
      didChange: async (event, next) => {
        const key = event.document.uri.toString();
        if (attached.has(key)) {
          return next(event);
        }
        if (isApp(event.document) && this.client) {
          // Became an Application while being edited: show it to the server now, whole.
          attached.add(key);
          const doc = event.document;
          await this.client.sendNotification(DidOpenTextDocumentNotification.type, {
            textDocument: {
              uri: this.client.code2ProtocolConverter.asUri(doc.uri),
              languageId: doc.languageId,
              version: doc.version,
              text: doc.getText(),
            },
          });
        }
      },
      didClose: async (doc, next) => {
        if (attached.delete(doc.uri.toString())) {
          return next(doc);
        }
      },
      didSave: async (doc, next) => (attached.has(doc.uri.toString()) ? next(doc) : undefined),
      willSave: async (event, next) => (attached.has(event.document.uri.toString()) ? next(event) : undefined),
      willSaveWaitUntil: (event, next) => (attached.has(event.document.uri.toString()) ? next(event) : Promise.resolve([])),
      executeCommand: async (command, args, next) => {
        // From the palette a command has no argument: it acts on the active Application.
        const active = this.activeApplicationArgument();
        let sent = args.length === 0 && active ? [active] : args;
        const hook = this.argumentHooks.get(command);
        if (hook) {
          const completed = await hook(sent, async (c, a) => next(c, a));
          if (completed === undefined) {
            return undefined;
          }
          sent = completed;
        }
        const result: unknown = await next(command, sent);
        for (const listener of this.resultListeners.get(command) ?? []) {
          try {
            listener(result, sent);
          } catch (err) {
            this.output.appendLine(`handling the result of ${command}: ${String(err)}`);
          }
        }
        return result;
      },
    };
    const gated = middleware as Record<string, unknown>;
    for (const name of GATED_PROVIDERS) {
      gated[name] = (doc: vscode.TextDocument | vscode.Uri, ...rest: unknown[]) => {
        const next = rest[rest.length - 1] as (...a: unknown[]) => unknown;
        const uri = doc instanceof vscode.Uri ? doc : doc.uri;
        return attached.has(uri.toString()) ? next(doc, ...rest.slice(0, -1)) : undefined;
      };
    }
    return middleware;
  }

  dispose(): void {
    void this.stop();
    this.disposables.forEach((d) => d.dispose());
  }
}

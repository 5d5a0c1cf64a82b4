// Titles for the commands the server announces (executeCommandProvider). Pure: unit-tested.

/** "veladev.dev.start" -> "Dev: Start"; "veladev.applyFix" -> "Apply Fix". */
export function titleForCommand(id: string): string {
  const parts = id.split(/[./:]/).filter(Boolean);
  if (parts.length > 1 && parts[0].toLowerCase() === "veladev") {
    parts.shift();
  }
  const words = (s: string) =>
    s.replace(/([a-z0-9])([A-Z])/g, "$1 $2").replace(/[-_]+/g, " ").replace(/\b\w/g, (c) => c.toUpperCase());
  if (parts.length === 0) {
    return id;
  }
  const last = words(parts[parts.length - 1]);
  return parts.length === 1 ? last : `${parts.slice(0, -1).map(words).join(" ")}: ${last}`;
}

export interface ServerCommandItem {
  label: string;
  description: string;
  command: string;
}

/** Quick-pick items for the announced commands, sorted by title, duplicates dropped. */
export function serverCommandItems(commands: readonly string[] | undefined): ServerCommandItem[] {
  const unique = [...new Set(commands ?? [])];
  return unique
    .map((command) => ({ label: titleForCommand(command), description: command, command }))
    .sort((a, b) => a.label.localeCompare(b.label));
}

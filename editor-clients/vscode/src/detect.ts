// Which YAML documents are KubeVela Applications. Pure: no vscode import, unit-tested in test/.

const DOC_SEPARATOR = /^---[ \t]*(?:#.*)?$/m;
const API_VERSION = /^apiVersion:[ \t]*["']?core\.oam\.dev\/[A-Za-z0-9]+["']?[ \t]*(?:#.*)?$/m;
const KIND_APPLICATION = /^kind:[ \t]*["']?Application["']?[ \t]*(?:#.*)?$/m;

/**
 * True when one YAML document of the (possibly multi-document) text has, at the top level,
 * `apiVersion: core.oam.dev/<version>` and `kind: Application`.
 */
export function isKubeVelaApplication(text: string): boolean {
  const normalized = text.replace(/\r\n?/g, "\n");
  return normalized
    .split(DOC_SEPARATOR)
    .some((doc) => API_VERSION.test(doc) && KIND_APPLICATION.test(doc));
}

/** The language ids and URI schemes whose documents the client considers at all. */
export const YAML_LANGUAGE_IDS = ["yaml"];
export const SCHEMES = ["file", "untitled"];

export function isCandidate(languageId: string, scheme: string): boolean {
  return YAML_LANGUAGE_IDS.includes(languageId) && SCHEMES.includes(scheme);
}

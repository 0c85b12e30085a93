/**
 * Reads the messages written to `EMAIL_FILE_PATH`: by Django's file backend (one `.log` file per
 * connection, messages separated by a line of 79 dashes) or by the development console backend of
 * `make run` (one `.eml` file per message).
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

const SEPARATOR = `\n${"-".repeat(79)}\n`;

async function messages(folder: string): Promise<string[]> {
  let names: string[];
  try {
    names = (await readdir(folder)).filter((name) => name.endsWith(".log") || name.endsWith(".eml")).sort();
  } catch {
    return []; // the backend creates the folder with its first message
  }
  const files = await Promise.all(names.map((name) => readFile(join(folder, name), "utf8")));
  return files.flatMap((text) => text.split(SEPARATOR)).filter((chunk) => chunk.trim().length > 0);
}

function decodeQuotedPrintable(text: string): string {
  const bytes = text
    .replace(/=\r?\n/g, "")
    .replace(/=([0-9A-F]{2})/g, (_match, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
  return Buffer.from(bytes, "latin1").toString("utf8");
}

/** The `token` of the first link in the newest message to `address`, URL-decoded. */
export async function tokenFromMail(folder: string, address: string, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const mine = (await messages(folder)).filter((message) => {
      const to = /^To:\s*(.+)$/im.exec(message);
      return to?.[1]?.includes(address) ?? false;
    });
    const latest = mine.at(-1);
    if (latest !== undefined) {
      const text = /quoted-printable/i.test(latest) ? decodeQuotedPrintable(latest) : latest;
      const match = /token=([^\s&"'<>]+)/.exec(text);
      if (match?.[1] === undefined) throw new Error(`no token link in the email to ${address}:\n${text.slice(0, 600)}`);
      return decodeURIComponent(match[1]);
    }
    if (Date.now() > deadline) throw new Error(`no email to ${address} in ${folder} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

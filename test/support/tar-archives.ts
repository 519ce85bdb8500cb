import { pack } from 'tar-stream';

/** A real tar archive (tar-stream) of text files by path, mode 0644 and mtime 0, as bytes. */
export async function tarOf(files: Record<string, string>): Promise<Buffer<ArrayBuffer>> {
  const archive = pack();
  for (const [name, content] of Object.entries(files)) archive.entry({ name, mode: 0o644, mtime: new Date(0) }, content);
  archive.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of archive) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

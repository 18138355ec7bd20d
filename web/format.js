// Formatting of sizes, dimensions, dates and text lengths for display.

const SIZE_UNITS = ["kB", "MB", "GB", "TB"];

/** Formats a byte count with SI units: 950 B, 1.6 kB, 12 MB. */
export function formatSize(bytes) {
  if (bytes < 1000) {
    return `${bytes} B`;
  }
  let value = bytes;
  let unit = -1;
  while (value >= 1000 && unit < SIZE_UNITS.length - 1) {
    value /= 1000;
    unit += 1;
  }
  const digits = value < 10 ? 1 : 0;
  return `${value.toFixed(digits)} ${SIZE_UNITS[unit]}`;
}

/** Formats an exact byte count with grouping: 1,644 bytes. */
export function formatBytes(bytes) {
  return `${new Intl.NumberFormat().format(bytes)} ${bytes === 1 ? "byte" : "bytes"}`;
}

/** Returns "1600 × 900" for an asset with a width and height, else "". */
export function formatDimensions(asset) {
  return asset.width && asset.height ? `${asset.width} × ${asset.height}` : "";
}

const DATE_FORMAT = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** Formats epoch milliseconds as a local date and time. */
export function formatDate(milliseconds) {
  return DATE_FORMAT.format(new Date(milliseconds));
}

/** Counts Unicode code points, the unit of the server's 500-character limits. */
export function codePointLength(text) {
  let count = 0;
  for (const _ of text) {
    count += 1;
  }
  return count;
}

const KIND_LABELS = { image: "Image", audio: "Audio", video: "Video", document: "Document" };

/** Returns the display name of an asset kind. */
export function kindLabel(kind) {
  return KIND_LABELS[kind] ?? "File";
}

/** Returns "1 asset" or "3 assets". */
export function countAssets(count) {
  return `${new Intl.NumberFormat().format(count)} ${count === 1 ? "asset" : "assets"}`;
}

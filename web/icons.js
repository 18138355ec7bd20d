// File-type icons drawn as inline SVG, so that no image request is needed.

const SVG_NS = "http://www.w3.org/2000/svg";

const SHAPES = {
  image: [
    ["rect", { x: 3, y: 4, width: 18, height: 16, rx: 2 }],
    ["circle", { cx: 9, cy: 9.5, r: 1.8 }],
    ["path", { d: "M3 17l5-5 4 4 3-3 6 6" }],
  ],
  audio: [
    ["path", { d: "M9 18V5l11-2v13" }],
    ["circle", { cx: 6, cy: 18, r: 3 }],
    ["circle", { cx: 17, cy: 16, r: 3 }],
  ],
  video: [
    ["rect", { x: 2, y: 6, width: 14, height: 12, rx: 2 }],
    ["path", { d: "M16 10.5l6-3.5v10l-6-3.5z" }],
  ],
  document: [
    ["path", { d: "M6 2h9l5 5v15H6z" }],
    ["path", { d: "M15 2v5h5" }],
    ["path", { d: "M9 13h8M9 17h8" }],
  ],
};

/** Returns an SVG icon for an asset kind; screen readers skip it, because the card names the type in text. */
export function kindIcon(kind) {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.setAttribute("class", `icon icon-${kind}`);
  for (const [tag, attributes] of SHAPES[kind] ?? SHAPES.document) {
    const shape = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attributes)) {
      shape.setAttribute(name, String(value));
    }
    svg.append(shape);
  }
  return svg;
}

// Writes the benchmark's source image: a 4000x3000 baseline JPEG (quality 90, 4:2:0) of a synthetic landscape with
// sky, hills, textured ground, discs and sensor grain, so that the encoders get photo-like detail rather than flat
// colour. The pixels depend only on the seed, and sharp's encoder is pinned by package-lock.json, so the file is the
// same on every run.
//
// Usage: node generate.js OUTPUT.jpg [--width 4000] [--height 3000] [--seed 1]
'use strict';

const sharp = require('sharp');

function parseArguments(argv) {
    const options = { width: 4000, height: 3000, seed: 1, output: null };
    for (let index = 0; index < argv.length; index++) {
        const argument = argv[index];
        if (argument === '--width' || argument === '--height' || argument === '--seed') {
            options[argument.slice(2)] = Number.parseInt(argv[++index], 10);
        } else if (!options.output) {
            options.output = argument;
        } else {
            throw new Error(`unexpected argument ${argument}; usage: node generate.js OUTPUT.jpg [--width W] [--height H] [--seed N]`);
        }
    }
    if (!options.output) {
        throw new Error('missing OUTPUT.jpg; usage: node generate.js OUTPUT.jpg [--width W] [--height H] [--seed N]');
    }
    return options;
}

// Mulberry32: a small seeded PRNG, so that the image does not depend on Math.random.
function prng(seed) {
    let state = seed >>> 0;
    return () => {
        state = (state + 0x6d2b79f5) >>> 0;
        let t = state;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

// Value noise on a lattice of `cell` pixels with smoothstep interpolation, in [0, 1).
function valueNoise(random, width, height, cell) {
    const columns = Math.ceil(width / cell) + 2;
    const rows = Math.ceil(height / cell) + 2;
    const lattice = new Float32Array(columns * rows);
    for (let index = 0; index < lattice.length; index++) {
        lattice[index] = random();
    }
    return (x, y) => {
        const gx = x / cell;
        const gy = y / cell;
        const x0 = Math.floor(gx);
        const y0 = Math.floor(gy);
        let fx = gx - x0;
        let fy = gy - y0;
        fx = fx * fx * (3 - 2 * fx);
        fy = fy * fy * (3 - 2 * fy);
        const row0 = y0 * columns;
        const row1 = row0 + columns;
        const top = lattice[row0 + x0] + (lattice[row0 + x0 + 1] - lattice[row0 + x0]) * fx;
        const bottom = lattice[row1 + x0] + (lattice[row1 + x0 + 1] - lattice[row1 + x0]) * fx;
        return top + (bottom - top) * fy;
    };
}

function clampByte(value) {
    return Math.min(255, Math.max(0, Math.round(value)));
}

function render({ width, height, seed }) {
    const random = prng(seed);
    // Octaves from 400-pixel shapes down to 3-pixel texture.
    const octaves = [400, 120, 40, 12, 3].map((cell, index) => ({ noise: valueNoise(random, width, height, cell), weight: 0.5 ** index }));
    const totalWeight = octaves.reduce((sum, octave) => sum + octave.weight, 0);
    const ridge = valueNoise(random, width, 1, 300);
    const ridgeDetail = valueNoise(random, width, 1, 37);
    const discs = Array.from({ length: 40 }, () => ({
        x: random() * width,
        y: height * (0.45 + random() * 0.55),
        radius: 20 + random() * 160,
        colour: [random() * 255, random() * 255, random() * 255],
    }));

    const pixels = Buffer.alloc(width * height * 3);
    for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
            let fractal = 0;
            for (const octave of octaves) {
                fractal += octave.noise(x, y) * octave.weight;
            }
            fractal /= totalWeight;
            const horizon = height * (0.35 + 0.15 * ridge(x, 0) + 0.04 * ridgeDetail(x, 0));
            let red;
            let green;
            let blue;
            if (y < horizon) {
                // Sky: a vertical gradient with soft clouds.
                const t = y / horizon;
                const cloud = Math.max(0, fractal - 0.5) * 2.5;
                red = 90 + 80 * t + 160 * cloud;
                green = 140 + 60 * t + 140 * cloud;
                blue = 220 - 20 * t + 40 * cloud;
            } else {
                // Ground: green to brown by the noise, darker towards the bottom.
                const depth = (y - horizon) / (height - horizon);
                const shade = 0.55 + 0.9 * fractal - 0.25 * depth;
                red = (70 + 90 * fractal) * shade + 20;
                green = (110 + 60 * (1 - fractal)) * shade;
                blue = (40 + 30 * fractal) * shade;
            }
            for (const disc of discs) {
                const dx = x - disc.x;
                const dy = y - disc.y;
                if (dx * dx + dy * dy < disc.radius * disc.radius) {
                    const light = 0.7 + 0.6 * (-dx - dy) / (2 * disc.radius);
                    red = disc.colour[0] * light;
                    green = disc.colour[1] * light;
                    blue = disc.colour[2] * light;
                }
            }
            const grain = (random() - 0.5) * 16;
            const offset = (y * width + x) * 3;
            pixels[offset] = clampByte(red + grain);
            pixels[offset + 1] = clampByte(green + grain);
            pixels[offset + 2] = clampByte(blue + grain);
        }
    }
    return pixels;
}

async function main() {
    const options = parseArguments(process.argv.slice(2));
    const pixels = render(options);
    await sharp(pixels, { raw: { width: options.width, height: options.height, channels: 3 } })
        .jpeg({ quality: 90, chromaSubsampling: '4:2:0', mozjpeg: false })
        .toFile(options.output);
}

main().catch((error) => {
    console.error(`generate.js: ${error.message}`);
    process.exit(1);
});

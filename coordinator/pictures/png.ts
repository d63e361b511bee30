// PNG from the same SVG text the .svg file holds, rendered by resvg (a Rust SVG
// renderer with prebuilt binaries), so the two files never disagree.

import { Resvg, type ResvgRenderOptions } from '@resvg/resvg-js';
import { FONT_FAMILY } from './svg.ts';
import { embedSvg } from './sweep/parts.ts';

/** The PNGs written beside SVG pictures are this many times the SVG's width. */
export const PNG_SCALE = 2;

/** The PNG that goes beside an SVG picture: PNG_SCALE times its width. */
export function pictureToPng(svg: string): Uint8Array {
  return svgToPng(svg, PNG_SCALE * Math.ceil(embedSvg(svg).width));
}

export interface PngOptions {
  /**
   * Scan the system's fonts (default true). Without any font, text is simply not drawn;
   * tests turn this off to check that path.
   */
  readonly loadSystemFonts?: boolean;
}

/** Render an SVG document to PNG bytes, scaled to `width` pixels wide (the SVG's own size when left out). */
export function svgToPng(svg: string, width?: number, options: PngOptions = {}): Uint8Array {
  if (width !== undefined && !(Number.isInteger(width) && width > 0)) {
    throw new RangeError(`svgToPng: width ${width} is not a positive integer`);
  }
  const opts: ResvgRenderOptions = {
    fitTo: width === undefined ? { mode: 'original' } : { mode: 'width', value: width },
    background: '#ffffff',
    font: {
      loadSystemFonts: options.loadSystemFonts ?? true,
      // resvg resolves the generic "sans-serif" to one fixed family (Arial) rather than
      // asking fontconfig, so name the family most Linux machines have as the default.
      defaultFontFamily: FONT_FAMILY.split(',')[0].trim(),
      sansSerifFamily: FONT_FAMILY.split(',')[0].trim(),
    },
    // A machine without fonts makes resvg warn once per text element; the picture is still useful.
    logLevel: 'error',
  };
  const png = new Resvg(svg, opts).render().asPng();
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}

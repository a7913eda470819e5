#version 330
// Post-processing of one generated frame: fill of the output's shape, zoom, flowing warp, bicubic
// (or bilinear) upscale, hue rotation, flash and vignette. Every effect is driven by a uniform the
// Mapper sets. The loader defines BICUBIC, BLEND and GRAIN (0 or 1) and FIT (0 cover, 1 mirror,
// 2 zoom-blur; "wide" is cover of a wide frame) after the #version line: compile-time switches, because a software rasteriser runs
// both sides of a branch on a uniform.
uniform sampler2D u_frame;     // newest generated image, RGB
uniform sampler2D u_prev;      // the one before it (live mode blends the two)
uniform float u_mix;           // 1 = only u_frame; below 1 fades in from u_prev
uniform vec2 u_frame_size;     // size of both in texels
uniform float u_time;          // seconds
uniform float u_flash;         // 0..1.5, amount of u_flash_color added
uniform vec3 u_flash_color;    // RGB 0..1
uniform float u_zoom;          // magnification, 1 = none
uniform float u_warp;          // distortion strength, 0 = none
uniform mat3 u_hue_matrix;     // hue rotation: RGB -> YIQ, rotate I/Q, -> RGB (built on the CPU)
uniform float u_vignette;      // corner darkening 0..1
uniform float u_grain;         // film grain amplitude, 0 = none
uniform float u_aspect;        // output width / height

in vec2 v_uv;
out vec4 f_color;

// Catmull-Rom weights for the four taps around a texel; sharper than bilinear when upscaling.
vec4 cubic_weights(float t) {
    float t2 = t * t, t3 = t2 * t;
    return vec4(-0.5 * t3 + t2 - 0.5 * t,
                 1.5 * t3 - 2.5 * t2 + 1.0,
                -1.5 * t3 + 2.0 * t2 + 0.5 * t,
                 0.5 * t3 - 0.5 * t2);
}

vec3 sample_bicubic(sampler2D image, vec2 uv) {
    vec2 pos = uv * u_frame_size - 0.5;
    vec2 base = floor(pos);
    vec2 f = pos - base;
    vec4 wx = cubic_weights(f.x);
    vec4 wy = cubic_weights(f.y);
    vec3 acc = vec3(0.0);
    for (int j = 0; j < 4; ++j) {
        vec3 row = vec3(0.0);
        for (int i = 0; i < 4; ++i) {
            vec2 texel = clamp(base + vec2(i - 1, j - 1), vec2(0.0), u_frame_size - 1.0);
            row += wx[i] * texelFetch(image, ivec2(texel), 0).rgb;
        }
        acc += wy[j] * row;
    }
    return acc;
}

// BICUBIC 1: Catmull-Rom upscale (videos); 0: the GPU's bilinear filter (one tap, live).
vec3 sample_frame(sampler2D image, vec2 uv) {
#if BICUBIC
    return sample_bicubic(image, uv);
#else
    return texture(image, uv).rgb;
#endif
}

// Mirror coordinates outside 0..1 so zooming out or warping never shows a hard edge.
vec2 mirror(vec2 uv) {
    return 1.0 - abs(1.0 - mod(uv, 2.0));
}

// Deterministic per-pixel noise in 0..1 (same frame, same grain: renders stay reproducible).
float hash(vec2 p) {
    p = fract(p * vec2(443.897, 441.423));
    p += dot(p, p.yx + 19.19);
    return fract((p.x + p.y) * p.x);
}

#if FIT == 2
// The frame's blurred, enlarged copy behind the sides, dimmed: its 16 px mip level.
vec3 backdrop(sampler2D image, vec2 uv) {
    // Two taps a few texels of the 16 px level apart hide that level's bilinear diamonds.
    vec2 d = vec2(0.02, -0.02);
    return (textureLod(image, uv + d, 4.0).rgb + textureLod(image, uv - d, 4.0).rgb) * 0.275;
}
#endif

vec3 picture(sampler2D image, vec2 uv) {
    return sample_frame(image, mirror(uv));
}

// Hue, flash, grain and vignette, on every pixel of the output.
vec3 finish(vec3 color) {
    color = u_hue_matrix * color;
    color += u_flash * u_flash_color;
#if GRAIN
    color += (hash(gl_FragCoord.xy + fract(u_time * 7.13) * 101.0) - 0.5) * u_grain;
#endif
    float r = length(v_uv - 0.5) * 1.4142;
    color *= 1.0 - u_vignette * smoothstep(0.4, 1.0, r);
    return clamp(color, 0.0, 1.0);
}

void main() {
    // Output position in units of the frame, centred: the frame spans [-0.5, 0.5] of the output's
    // longer side relative to it (cover: it fills the output, the rest is cropped) or of the shorter.
    float a = u_aspect * u_frame_size.y / u_frame_size.x;  // the output's shape relative to the frame's
    vec2 p = (v_uv - 0.5) * vec2(a, 1.0);
#if FIT == 0
    p /= max(a, 1.0);
#else
    p /= min(a, 1.0);
#endif
    vec2 uv = 0.5 + p / max(u_zoom, 1e-3);
    uv += u_warp * 0.03 * vec2(sin(uv.y * 9.0 + u_time * 1.3), cos(uv.x * 7.0 - u_time * 1.1));
#if FIT == 2
    // Beyond the picture's own square: the copy enlarged to cover the output, blurred and dimmed
    // (one side or the other per pixel, so a rasteriser that shades in blocks pays for one).
    if (max(abs(uv.x - 0.5), abs(uv.y - 0.5)) > 0.5) {
        vec2 cover = 0.5 + (v_uv - 0.5) * vec2(a, 1.0) / max(a, 1.0) / 1.1;
        vec3 color = backdrop(u_frame, cover);
#if BLEND
        color = mix(backdrop(u_prev, cover), color, u_mix);
#endif
        f_color = vec4(finish(color), 1.0);
        return;
    }
#endif
    vec3 color = picture(u_frame, uv);
#if BLEND
    // A generator slower than the display: cross-fade so motion stays smooth.
    color = mix(picture(u_prev, uv), color, u_mix);
#endif
    f_color = vec4(finish(color), 1.0);
}


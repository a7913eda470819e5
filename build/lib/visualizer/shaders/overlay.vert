#version 330
// A textured rectangle over the picture (the heads-up display).
in vec2 in_position;   // unit quad corner, 0..1
uniform vec4 u_rect;   // left, top, width, height in pixels of the target
uniform vec2 u_target; // target size in pixels
uniform bool u_flip;   // true for framebuffer textures, whose first row is the picture's bottom
out vec2 v_uv;

void main() {
    v_uv = vec2(in_position.x, u_flip ? 1.0 - in_position.y : in_position.y);
    vec2 pixel = u_rect.xy + in_position * u_rect.zw;
    vec2 clip = vec2(pixel.x / u_target.x * 2.0 - 1.0, 1.0 - pixel.y / u_target.y * 2.0);
    gl_Position = vec4(clip, 0.0, 1.0);
}

#version 330
// Draws an RGBA texture (text rendered on the CPU) with its alpha.
uniform sampler2D u_overlay;
in vec2 v_uv;
out vec4 f_color;

void main() {
    f_color = texture(u_overlay, v_uv);
}

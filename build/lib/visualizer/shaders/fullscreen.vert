#version 330
// A full-screen quad. v_uv has (0, 0) at the image's top-left texel row, so that
// textures uploaded top row first appear upright.
in vec2 in_position;  // clip space, -1..1
out vec2 v_uv;

void main() {
    v_uv = vec2(in_position.x * 0.5 + 0.5, 0.5 - in_position.y * 0.5);
    gl_Position = vec4(in_position, 0.0, 1.0);
}

"""The compact WebGPU GEMM: the template with loops instead of unrolled text, for adapters whose
shader compilers pay per instruction. SwiftShader (Chromium's software adapter) compiles an
unrolled convolution shader in 15-25 s and some 64-invocation ones not in minutes; this one,
aotc's first GEMM, in a fraction of that, which keeps a whole model's first run short there.

A workgroup of 256 invocations computes a 64 x 64 tile of C: operand tiles of 16 along k in
workgroup memory (filled by one strided loop each, zeros outside the matrix and in window
padding), a 4 x 4 block per invocation as four vec4 FMAs per k, its rows and columns strided
by 16; the epilogue and store in one loop. Barriers under workgroup-uniform bounds.
"""
from __future__ import annotations

from compiler.errors import UnsupportedError
from compiler.ir.contraction import Contraction
from compiler.ir.dtypes import DType
from compiler.ir.loops import Expr
from backends.webgpu.gemm_operands import WINDOWS_WGSL, dim_text, epilogue_lines, k_contiguous, operand_index, workgroups
from backends.webgpu.gemm_space import COMPACT, GemmConfig
from backends.webgpu.printer import WgslPrinter

BM = BN = 64
BK = 16
THREADS = 256


def _tile_load(spec: Contraction, printer: WgslPrinter, which: str) -> str:
    """The loop filling one operand tile of workgroup memory (zeros outside the matrix)."""
    operand = spec.a if which == "a" else spec.b
    wide = BM if which == "a" else BN
    order = (f"let kk = e % {BK}; let xx = e / {BK};" if k_contiguous(operand, which)
             else f"let xx = e % {wide}; let kk = e / {wide};")
    bound = "rows" if which == "a" else f"{spec.n}i"
    row, col = ("x", "k") if which == "a" else ("k", "x")
    index, setup = operand_index(operand, printer, row, col)
    guard = "wi >= 0" if setup else "true"
    return f"""\
            for (var e: i32 = tid; e < {BK * wide}; e += {THREADS}) {{
                {order}
                let x = {'m0' if which == 'a' else 'n0'} + xx;
                let k = k0 + kk;
                var value = 0.0f;
                if (x < {bound} && k < {spec.k}i) {{
                    {setup}
                    if ({guard}) {{ value = {printer.load(operand.param, index, DType.float32)}; }}
                }}
                {which}_tile[kk * {wide} + xx] = value;
            }}"""


def render(spec: Contraction, printer: WgslPrinter, cfg: GemmConfig) -> tuple[str, tuple[Expr, Expr, Expr]]:
    if cfg != COMPACT:
        raise UnsupportedError(f"webgpu compact GEMM: config {cfg.name} (only {COMPACT.name})")
    m, groups = dim_text(spec.m, printer), f"({dim_text(spec.batch, printer)} * {spec.groups}i)"
    epilogue = "\n".join(f"                    {line}" for line in epilogue_lines(spec, printer))
    out_index = f"gb * {spec.out_batch_stride} + gg * {spec.out_group_stride} + m * {spec.out_row_stride} + n"
    store = printer.store(spec.out_param, out_index, "v", DType.float32, " " * 20)
    text = f"""\
{WINDOWS_WGSL}
var<workgroup> a_tile: array<f32, {BK * BM}>;
var<workgroup> b_tile: array<f32, {BK * BN}>;

// contraction: g={spec.batch}x{spec.groups} m={spec.m} n={spec.n} k={spec.k}; config {cfg.name}
@compute @workgroup_size({THREADS})
fn main(@builtin(local_invocation_index) aotc_lid: u32, @builtin(workgroup_id) aotc_wid: vec3<u32>,
        @builtin(num_workgroups) aotc_groups: vec3<u32>) {{
    let tid = i32(aotc_lid);
    let tx = tid % 16;
    let ty = tid / 16;
    let rows: i32 = {m};
    for (var g: i32 = i32(aotc_wid.z); g < {groups}; g += i32(aotc_groups.z)) {{
        let gb = g / {spec.groups}i;
        let gg = g % {spec.groups}i;
        for (var m0: i32 = i32(aotc_wid.y) * {BM}; m0 < rows; m0 += i32(aotc_groups.y) * {BM}) {{
            let n0 = i32(aotc_wid.x) * {BN};
            var acc: array<vec4<f32>, 4>;
            for (var k0: i32 = 0; k0 < {spec.k}i; k0 += {BK}) {{
{_tile_load(spec, printer, "a")}
{_tile_load(spec, printer, "b")}
                workgroupBarrier();
                for (var kk: i32 = 0; kk < {BK}; kk++) {{
                    let a = vec4<f32>(a_tile[kk * {BM} + ty], a_tile[kk * {BM} + ty + 16],
                                      a_tile[kk * {BM} + ty + 32], a_tile[kk * {BM} + ty + 48]);
                    let b = vec4<f32>(b_tile[kk * {BN} + tx], b_tile[kk * {BN} + tx + 16],
                                      b_tile[kk * {BN} + tx + 32], b_tile[kk * {BN} + tx + 48]);
                    acc[0] = fma(vec4<f32>(a.x), b, acc[0]);
                    acc[1] = fma(vec4<f32>(a.y), b, acc[1]);
                    acc[2] = fma(vec4<f32>(a.z), b, acc[2]);
                    acc[3] = fma(vec4<f32>(a.w), b, acc[3]);
                }}
                workgroupBarrier();
            }}
            for (var i: i32 = 0; i < 4; i++) {{
                for (var j: i32 = 0; j < 4; j++) {{
                    let m = m0 + ty + 16 * i;
                    let n = n0 + tx + 16 * j;
                    if (m >= rows || n >= {spec.n}i) {{ continue; }}
                    var v: f32 = acc[i][j];
{epilogue}
{chr(10).join(store)}
                }}
            }}
        }}
    }}
}}
"""
    return text, workgroups(spec, cfg)


__all__ = ["render"]

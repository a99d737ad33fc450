//! Host bindings generated from the contract in `hooks-sdk/wit/`, the same file the SDK's guest
//! bindings come from.

wasmtime::component::bindgen!({
    path: "../hooks-sdk/wit",
    world: "hook",
    imports: { default: trappable },
    exports: { default: async },
    with: {
        "edge:hooks/types.headers": super::headers::HeaderSlot,
    },
});

/// Host bindings for the `function` world (ALB-style targets: event JSON in, result JSON out).
pub mod function_world {
    wasmtime::component::bindgen!({
        path: "../hooks-sdk/wit",
        world: "function",
        exports: { default: async },
    });
}

//! Guest bindings of the `function` world (ALB targets), from `wit/hooks.wit`.

wit_bindgen::generate!({
    path: "wit",
    world: "function",
    pub_export_macro: true,
    export_macro_name: "export_function_world",
    default_bindings_module: "::edge_hooks::function_bindings",
});

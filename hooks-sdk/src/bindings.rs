//! Guest bindings generated from `wit/hooks.wit` (the `hook` world), the contract shared with
//! the proxy.

wit_bindgen::generate!({
    path: "wit",
    world: "hook",
    pub_export_macro: true,
    export_macro_name: "export_hook_world",
    default_bindings_module: "::edge_hooks::bindings",
});

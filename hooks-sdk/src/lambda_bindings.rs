//! Guest bindings of the `lambda` world (ALB and API Gateway targets: the Lambda Invoke
//! contract), from `wit/hooks.wit`.

wit_bindgen::generate!({
    path: "wit",
    world: "lambda",
    pub_export_macro: true,
    export_macro_name: "export_lambda_world",
    default_bindings_module: "::edge_hooks::lambda_bindings",
});

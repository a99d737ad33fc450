//! Host bindings generated from the contract in `hooks-sdk/wit/`, the same file the SDK's guest
//! bindings come from.

use wasmtime::component::{ComponentExportIndex, Func, InstancePre};
use wasmtime::AsContextMut;

wasmtime::component::bindgen!({
    path: "../hooks-sdk/wit",
    world: "hook",
    imports: { default: trappable },
    exports: { default: async },
    with: {
        "edge:hooks/types.headers": super::slots::HeaderSlot,
        "edge:hooks/types.request": super::slots::RequestSlot,
        "edge:hooks/types.response": super::slots::ResponseSlot,
    },
});

impl<T: Send + 'static> HookPre<T> {
    /// Instantiates the hook. Unlike the generated `instantiate_async`, this does not type-check
    /// the `handle` export again on every instance: [`HookPre::new`] checked it against the
    /// component once, and every instance of that component has the same type. The check cost
    /// ~6 % of a per-request invocation.
    pub async fn instantiate_prechecked(
        &self,
        store: impl AsContextMut<Data = T>,
    ) -> wasmtime::Result<Hook> {
        let handle =
            prechecked_export(&self.instance_pre, store, self.indices.handle, "handle").await?;
        Ok(Hook { handle })
    }
}

/// Instantiates `pre` and returns its export `name` at `index`, whose type the caller checked
/// when it looked the index up.
async fn prechecked_export<T: Send + 'static>(
    pre: &InstancePre<T>,
    mut store: impl AsContextMut<Data = T>,
    index: ComponentExportIndex,
    name: &str,
) -> wasmtime::Result<Func> {
    let instance = pre.instantiate_async(&mut store).await?;
    instance
        .get_func(&mut store, index)
        .ok_or_else(|| wasmtime::format_err!("no export `{name}` found"))
}

/// Host bindings for the `lambda` world (ALB-style targets: event JSON in, result JSON out).
pub mod lambda_world {
    wasmtime::component::bindgen!({
        path: "../hooks-sdk/wit",
        world: "lambda",
        exports: { default: async },
    });

    impl<T: Send + 'static> LambdaPre<T> {
        /// Instantiates the function without re-checking the `invoke` export's type, as
        /// [`super::HookPre::instantiate_prechecked`] does for hooks.
        pub async fn instantiate_prechecked(
            &self,
            store: impl wasmtime::AsContextMut<Data = T>,
        ) -> wasmtime::Result<Lambda> {
            let invoke =
                super::prechecked_export(&self.instance_pre, store, self.indices.invoke, "invoke")
                    .await?;
            Ok(Lambda { invoke })
        }
    }
}

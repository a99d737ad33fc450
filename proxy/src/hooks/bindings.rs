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

impl<T: Send + 'static> HookPre<T> {
    /// Instantiates the hook. Unlike the generated `instantiate_async`, this does not type-check
    /// the `handle` export again on every instance: [`HookPre::new`] checked it against the
    /// component once, and every instance of that component has the same type. The check cost
    /// ~6 % of a per-request invocation.
    pub async fn instantiate_prechecked(
        &self,
        mut store: impl wasmtime::AsContextMut<Data = T>,
    ) -> wasmtime::Result<Hook> {
        let instance = self.instance_pre.instantiate_async(&mut store).await?;
        let handle = instance
            .get_func(&mut store, self.indices.handle)
            .ok_or_else(|| wasmtime::format_err!("no export `handle` found"))?;
        Ok(Hook { handle })
    }
}

/// Host bindings for the `function` world (ALB-style targets: event JSON in, result JSON out).
pub mod function_world {
    wasmtime::component::bindgen!({
        path: "../hooks-sdk/wit",
        world: "function",
        exports: { default: async },
    });

    impl<T: Send + 'static> FunctionPre<T> {
        /// Instantiates the function without re-checking the `invoke` export's type, as
        /// [`super::HookPre::instantiate_prechecked`] does for hooks.
        pub async fn instantiate_prechecked(
            &self,
            mut store: impl wasmtime::AsContextMut<Data = T>,
        ) -> wasmtime::Result<Function> {
            let instance = self.instance_pre.instantiate_async(&mut store).await?;
            let invoke = instance
                .get_func(&mut store, self.indices.invoke)
                .ok_or_else(|| wasmtime::format_err!("no export `invoke` found"))?;
            Ok(Function { invoke })
        }
    }
}

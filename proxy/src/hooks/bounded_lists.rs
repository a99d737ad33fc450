//! The contract's list arguments, bounded before they are lifted.
//!
//! wasmtime lifts a host function's `list<…>` argument whole, each string copied into a host
//! `String`, before the function runs. A hook could hand `headers.apply` millions of edits:
//! ~80 bytes of host memory each, several times its own linear memory in all, and the lifting
//! holds its worker where no epoch tick interrupts it. The imports that take a list of header
//! edits or lines are defined again over the generated ones, taking the list unlifted
//! ([`WasmList`]) so its length is checked first; the generated method then runs on the lifted
//! list, as before.

use wasmtime::component::{ComponentType, Lift, Linker, LinkerInstance, Resource, WasmList};
use wasmtime::{AsContextMut, StoreContextMut};

use super::bindings::edge::hooks::types::{
    CustomOrigin, Header, HeaderEdit, HostHeaders, HostRequest, HostResponse, Origin, S3Origin,
};
use super::invocation::{MAX_EDITS, MAX_LINES};
use super::slots::{HeaderSlot, RequestSlot};
use super::state::HookState;

/// The contract's interface these imports belong to: `hooks-sdk/wit/hooks.wit`'s package and
/// version (a hook built against another version does not load).
const TYPES: &str = "edge:hooks/types@0.5.0";

/// Replaces the generated `headers.apply`, `headers.set`, `request.edit-headers`,
/// `response.edit-headers` and `request.set-origin` in `linker` (where
/// [`super::bindings::Hook::add_to_linker`] put them) with ones that bound their lists before
/// lifting them.
pub(super) fn add_to_linker(linker: &mut Linker<HookState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut types = linker.instance(TYPES)?;
    edits_import(&mut types, "[method]headers.apply", HostHeaders::apply)?;
    edits_import(
        &mut types,
        "[method]request.edit-headers",
        HostRequest::edit_headers,
    )?;
    edits_import(
        &mut types,
        "[method]response.edit-headers",
        HostResponse::edit_headers,
    )?;
    types.func_wrap(
        "[method]headers.set",
        |mut store: StoreContextMut<'_, HookState>,
         (this, name, values): (Resource<HeaderSlot>, String, WasmList<Header>)| {
            let values = lift(&mut store, &values, MAX_LINES, "header lines")?;
            HostHeaders::set(store.data_mut(), this, name, values)
        },
    )?;
    types.func_wrap(
        "[method]request.set-origin",
        |mut store: StoreContextMut<'_, HookState>,
         (this, origin): (Resource<RequestSlot>, UnliftedOrigin)| {
            let origin = origin.lift(&mut store)?;
            HostRequest::set_origin(store.data_mut(), this, origin)
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// Defines import `name`, a method of resource `R` taking a list of header edits, as `method`
/// on the list once it is bounded and lifted.
fn edits_import<R: 'static>(
    types: &mut LinkerInstance<'_, HookState>,
    name: &str,
    method: fn(&mut HookState, Resource<R>, Vec<HeaderEdit>) -> wasmtime::Result<()>,
) -> wasmtime::Result<()> {
    types.func_wrap(
        name,
        move |mut store: StoreContextMut<'_, HookState>,
              (this, edits): (Resource<R>, WasmList<HeaderEdit>)| {
            let edits = lift(&mut store, &edits, MAX_EDITS, "header edits")?;
            method(store.data_mut(), this, edits)
        },
    )
}

/// `list` (of `what`), lifted into a vector of its length if it has at most `most` elements.
fn lift<T: Lift + 'static>(
    store: &mut StoreContextMut<'_, HookState>,
    list: &WasmList<T>,
    most: usize,
    what: &str,
) -> wasmtime::Result<Vec<T>> {
    if list.len() > most {
        return Err(wasmtime::format_err!(
            "a list of {} {what}, more than {most}",
            list.len()
        ));
    }
    // Pushed one by one: a `collect` into a `Result` would grow the vector as it goes.
    let mut lifted = Vec::with_capacity(list.len());
    for item in list.iter(store.as_context_mut())? {
        lifted.push(item?);
    }
    Ok(lifted)
}

/// The contract's `origin`, its lists not yet lifted.
#[derive(ComponentType, Lift)]
#[component(variant)]
enum UnliftedOrigin {
    #[component(name = "named")]
    Named(String),
    #[component(name = "custom")]
    Custom(UnliftedCustomOrigin),
    #[component(name = "s3")]
    S3(UnliftedS3Origin),
}

/// The contract's `custom-origin`, its lists not yet lifted.
#[derive(ComponentType, Lift)]
#[component(record)]
struct UnliftedCustomOrigin {
    #[component(name = "domain-name")]
    domain_name: String,
    port: u16,
    protocol: String,
    path: String,
    #[component(name = "read-timeout")]
    read_timeout: u32,
    #[component(name = "keepalive-timeout")]
    keepalive_timeout: u32,
    #[component(name = "custom-headers")]
    custom_headers: WasmList<Header>,
    #[component(name = "ssl-protocols")]
    ssl_protocols: WasmList<String>,
}

/// The contract's `s3-origin`, its list not yet lifted.
#[derive(ComponentType, Lift)]
#[component(record)]
struct UnliftedS3Origin {
    #[component(name = "auth-method")]
    auth_method: String,
    #[component(name = "custom-headers")]
    custom_headers: WasmList<Header>,
    #[component(name = "domain-name")]
    domain_name: String,
    path: String,
    region: String,
}

impl UnliftedOrigin {
    /// The origin with its lists lifted, each bounded first.
    fn lift(self, store: &mut StoreContextMut<'_, HookState>) -> wasmtime::Result<Origin> {
        Ok(match self {
            UnliftedOrigin::Named(name) => Origin::Named(name),
            UnliftedOrigin::Custom(c) => Origin::Custom(CustomOrigin {
                domain_name: c.domain_name,
                port: c.port,
                protocol: c.protocol,
                path: c.path,
                read_timeout: c.read_timeout,
                keepalive_timeout: c.keepalive_timeout,
                custom_headers: lift(store, &c.custom_headers, MAX_LINES, "custom headers")?,
                ssl_protocols: lift(store, &c.ssl_protocols, MAX_LINES, "TLS protocols")?,
            }),
            UnliftedOrigin::S3(s) => Origin::S3(S3Origin {
                auth_method: s.auth_method,
                custom_headers: lift(store, &s.custom_headers, MAX_LINES, "custom headers")?,
                domain_name: s.domain_name,
                path: s.path,
                region: s.region,
            }),
        })
    }
}

//! The contract's list arguments, bounded before they are lifted.
//!
//! wasmtime lifts a host function's `list<…>` argument whole, each string copied into a host
//! `String`, before the function runs. A hook could hand `headers.apply` millions of edits:
//! ~80 bytes of host memory each, several times its own linear memory in all, and the lifting
//! holds its worker where no epoch tick interrupts it. The imports that take a list of header
//! edits or lines are defined again over the generated ones, taking the list unlifted
//! ([`WasmList`]) so its length is checked first; the generated method then runs on the lifted
//! list, as before.

use wasmtime::component::{Lift, Linker, LinkerInstance, Resource, WasmList};
use wasmtime::{AsContextMut, StoreContextMut};

use super::bindings::edge::hooks::types::{
    Header, HeaderEdit, HostHeaders, HostRequest, HostResponse,
};
use super::invocation::{MAX_EDITS, MAX_LINES};
use super::slots::HeaderSlot;
use super::state::HookState;

/// The contract's interface these imports belong to: `hooks-sdk/wit/hooks.wit`'s package and
/// version (a hook built against another version does not load).
const TYPES: &str = "edge:hooks/types@0.5.0";

/// Replaces the generated `headers.apply`, `headers.set`, `request.edit-headers` and
/// `response.edit-headers` in `linker` (where [`super::bindings::Hook::add_to_linker`] put
/// them) with ones that bound their list before lifting it.
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
            if values.len() > MAX_LINES {
                return Err(wasmtime::format_err!(
                    "a list of {} header lines, more than the {MAX_LINES} one header map holds",
                    values.len()
                ));
            }
            let values = lift(&mut store, &values)?;
            HostHeaders::set(store.data_mut(), this, name, values)
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// Defines import `name`, a method of resource `R` taking a list of header edits, as `method`
/// on the list once [`lift_edits`] has bounded and lifted it.
fn edits_import<R: 'static>(
    types: &mut LinkerInstance<'_, HookState>,
    name: &str,
    method: fn(&mut HookState, Resource<R>, Vec<HeaderEdit>) -> wasmtime::Result<()>,
) -> wasmtime::Result<()> {
    types.func_wrap(
        name,
        move |mut store: StoreContextMut<'_, HookState>,
              (this, edits): (Resource<R>, WasmList<HeaderEdit>)| {
            let edits = lift_edits(&mut store, &edits)?;
            method(store.data_mut(), this, edits)
        },
    )
}

/// `edits`, lifted if one header map could take them all.
fn lift_edits(
    store: &mut StoreContextMut<'_, HookState>,
    edits: &WasmList<HeaderEdit>,
) -> wasmtime::Result<Vec<HeaderEdit>> {
    if edits.len() > MAX_EDITS {
        return Err(wasmtime::format_err!(
            "a list of {} header edits, more than the {MAX_EDITS} one header map takes",
            edits.len()
        ));
    }
    lift(store, edits)
}

/// `list`, lifted into a vector of its length (a `collect` into a `Result` would grow it).
fn lift<T: Lift + 'static>(
    store: &mut StoreContextMut<'_, HookState>,
    list: &WasmList<T>,
) -> wasmtime::Result<Vec<T>> {
    let mut lifted = Vec::with_capacity(list.len());
    for item in list.iter(store.as_context_mut())? {
        lifted.push(item?);
    }
    Ok(lifted)
}

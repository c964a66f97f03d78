//! Typed state shared by the handlers of one service instance: a Python service's
//! instance attributes. It is built once per instance (every `TestService` builds its
//! own, so parallel tests do not share it) and handlers take it as a `State<T>`
//! argument.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// A handler argument: the service instance's state of type `T`, shared by all its
/// handlers (wrap what changes in a `Mutex` or atomics).
///
/// ```no_run
/// use std::sync::Mutex;
/// use tars::prelude::*;
/// use tars::State;
///
/// #[derive(Default)]
/// struct Voice {
///     current: Mutex<String>,
/// }
///
/// #[tars::handler(topic = "voice/set")]
/// async fn set_voice(msg: Message, voice: State<Voice>) {
///     *voice.current.lock().unwrap() = String::from_utf8_lossy(msg.payload()).into_owned();
/// }
///
/// #[tars::service(state = Voice::default)]
/// async fn main() {}
/// ```
pub struct State<T>(Arc<T>);

impl<T> State<T> {
    /// The shared value.
    pub fn arc(&self) -> &Arc<T> {
        &self.0
    }
}

impl<T> Clone for State<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T> Deref for State<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: fmt::Debug> fmt::Debug for State<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("State").field(&self.0).finish()
    }
}

/// The states of one client, by type.
#[derive(Default, Clone)]
pub(crate) struct States(HashMap<TypeId, Arc<dyn Any + Send + Sync>>);

impl fmt::Debug for States {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "States({})", self.0.len())
    }
}

impl States {
    pub(crate) fn insert<T: Send + Sync + 'static>(&mut self, value: T) {
        self.0.insert(TypeId::of::<T>(), Arc::new(value));
    }

    pub(crate) fn get<T: Send + Sync + 'static>(&self) -> Option<State<T>> {
        let value = self.0.get(&TypeId::of::<T>())?.clone();
        value.downcast::<T>().ok().map(State)
    }

    pub(crate) fn contains(&self, need: &StateNeed) -> bool {
        self.0.contains_key(&(need.type_id)())
    }
}

/// A state type a handler takes, as its registration lists it.
#[derive(Debug, Clone, Copy)]
pub struct StateNeed {
    /// The type's id.
    pub type_id: fn() -> TypeId,
    /// The type's name, for the error when it is not provided.
    pub type_name: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_found_by_type() {
        let mut states = States::default();
        states.insert(41_u32);
        states.insert(String::from("voice"));
        assert_eq!(*states.get::<u32>().unwrap(), 41);
        assert_eq!(states.get::<String>().unwrap().as_str(), "voice");
        assert!(states.get::<i64>().is_none());
        let need = StateNeed {
            type_id: TypeId::of::<u32>,
            type_name: "u32",
        };
        assert!(states.contains(&need));
    }
}

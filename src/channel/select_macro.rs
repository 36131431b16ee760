//! The [`select!`](crate::select) macro: parses crossbeam-channel's syntax and expands to
//! safe calls into `channel::__private`, with the arms as locals (no heap allocation).

/// Waits on several channel operations at once and runs the arm of the one that
/// completes.
///
/// ```
/// use fibra::channel;
/// use std::time::Duration;
///
/// let (tx1, rx1) = channel::unbounded::<i32>();
/// let (tx2, rx2) = channel::bounded::<&str>(1);
/// tx1.send(10).unwrap();
///
/// fibra::select! {
///     recv(rx1) -> msg => assert_eq!(msg, Ok(10)),
///     send(tx2, "hi") -> res => assert_eq!(res, Ok(())),
/// }
///
/// // Nothing ready: the default arm runs after the timeout.
/// let (_tx3, rx3) = channel::bounded::<()>(0);
/// let got = fibra::select! {
///     recv(rx3) -> _ => "message",
///     default(Duration::from_millis(10)) => "timeout",
/// };
/// assert_eq!(got, "timeout");
/// ```
///
/// Arms (any number and order, at most 32 operations, at most one default):
/// - `recv(rx) -> msg => body`: `msg` (a pattern) is a `Result<T, RecvError>`: the
///   message, or `Err` once the channel is empty and every sender is gone.
/// - `send(tx, value) -> res => body`: `res` is a `Result<(), SendError<T>>`: `Err`
///   (holding the message) if every receiver is gone.
/// - `default => body`: runs if no operation is ready now.
/// - `default(timeout) => body`: runs if none completes within `timeout` (a `Duration`).
///
/// Without a default arm the select waits until an operation completes (a fiber
/// suspends, a thread parks). Exactly one operation completes, and its arm's body runs;
/// when several are ready the choice is random, so none is starved. A disconnected
/// channel counts as ready (its arm gets the `Err`).
///
/// Evaluation (Go's rule): every channel expression and every message to send is
/// evaluated exactly once, in the order written, before the select starts; the messages
/// of the send arms that are not chosen are dropped when the `select!` ends. Bodies are
/// ordinary expressions of the enclosing function (`return`, `break`, `?` work), separated
/// by commas (optional after a block).
#[macro_export]
macro_rules! select {
    // ----- parsing: `@parse [arms] [default] tokens...` -----
    (@parse [$($arms:tt)*] [$($def:tt)*]) => {
        $crate::select!(@number [] [$($arms)*] [$($def)*] [
            (__fibra_arm0 0) (__fibra_arm1 1) (__fibra_arm2 2) (__fibra_arm3 3)
            (__fibra_arm4 4) (__fibra_arm5 5) (__fibra_arm6 6) (__fibra_arm7 7)
            (__fibra_arm8 8) (__fibra_arm9 9) (__fibra_arm10 10) (__fibra_arm11 11)
            (__fibra_arm12 12) (__fibra_arm13 13) (__fibra_arm14 14) (__fibra_arm15 15)
            (__fibra_arm16 16) (__fibra_arm17 17) (__fibra_arm18 18) (__fibra_arm19 19)
            (__fibra_arm20 20) (__fibra_arm21 21) (__fibra_arm22 22) (__fibra_arm23 23)
            (__fibra_arm24 24) (__fibra_arm25 25) (__fibra_arm26 26) (__fibra_arm27 27)
            (__fibra_arm28 28) (__fibra_arm29 29) (__fibra_arm30 30) (__fibra_arm31 31)
        ] __fibra_index)
    };
    (@parse [$($arms:tt)*] $def:tt
        recv($rx:expr) -> $p:pat => $body:block, $($rest:tt)*) => {
        $crate::select!(@parse [$($arms)* (recv ($rx) ($p) ($body))] $def $($rest)*)
    };
    (@parse [$($arms:tt)*] $def:tt
        recv($rx:expr) -> $p:pat => $body:block $($rest:tt)*) => {
        $crate::select!(@parse [$($arms)* (recv ($rx) ($p) ($body))] $def $($rest)*)
    };
    (@parse [$($arms:tt)*] $def:tt
        recv($rx:expr) -> $p:pat => $body:expr, $($rest:tt)*) => {
        $crate::select!(@parse [$($arms)* (recv ($rx) ($p) ($body))] $def $($rest)*)
    };
    (@parse [$($arms:tt)*] $def:tt
        recv($rx:expr) -> $p:pat => $body:expr) => {
        $crate::select!(@parse [$($arms)* (recv ($rx) ($p) ($body))] $def)
    };
    (@parse [$($arms:tt)*] $def:tt
        send($tx:expr, $v:expr) -> $p:pat => $body:block, $($rest:tt)*) => {
        $crate::select!(@parse [$($arms)* (send ($tx) ($v) ($p) ($body))] $def $($rest)*)
    };
    (@parse [$($arms:tt)*] $def:tt
        send($tx:expr, $v:expr) -> $p:pat => $body:block $($rest:tt)*) => {
        $crate::select!(@parse [$($arms)* (send ($tx) ($v) ($p) ($body))] $def $($rest)*)
    };
    (@parse [$($arms:tt)*] $def:tt
        send($tx:expr, $v:expr) -> $p:pat => $body:expr, $($rest:tt)*) => {
        $crate::select!(@parse [$($arms)* (send ($tx) ($v) ($p) ($body))] $def $($rest)*)
    };
    (@parse [$($arms:tt)*] $def:tt
        send($tx:expr, $v:expr) -> $p:pat => $body:expr) => {
        $crate::select!(@parse [$($arms)* (send ($tx) ($v) ($p) ($body))] $def)
    };
    (@parse $arms:tt [$($def:tt)+] default $($rest:tt)*) => {
        ::core::compile_error!("select! takes at most one `default` arm")
    };
    (@parse $arms:tt [] default => $body:block, $($rest:tt)*) => {
        $crate::select!(@parse $arms [(Now) ($body)] $($rest)*)
    };
    (@parse $arms:tt [] default => $body:block $($rest:tt)*) => {
        $crate::select!(@parse $arms [(Now) ($body)] $($rest)*)
    };
    (@parse $arms:tt [] default => $body:expr, $($rest:tt)*) => {
        $crate::select!(@parse $arms [(Now) ($body)] $($rest)*)
    };
    (@parse $arms:tt [] default => $body:expr) => {
        $crate::select!(@parse $arms [(Now) ($body)])
    };
    (@parse $arms:tt [] default($t:expr) => $body:block, $($rest:tt)*) => {
        $crate::select!(@parse $arms [(Timeout($t)) ($body)] $($rest)*)
    };
    (@parse $arms:tt [] default($t:expr) => $body:block $($rest:tt)*) => {
        $crate::select!(@parse $arms [(Timeout($t)) ($body)] $($rest)*)
    };
    (@parse $arms:tt [] default($t:expr) => $body:expr, $($rest:tt)*) => {
        $crate::select!(@parse $arms [(Timeout($t)) ($body)] $($rest)*)
    };
    (@parse $arms:tt [] default($t:expr) => $body:expr) => {
        $crate::select!(@parse $arms [(Timeout($t)) ($body)])
    };
    (@parse $arms:tt $def:tt $($bad:tt)+) => {
        ::core::compile_error!(::core::concat!(
            "select!: expected `recv(rx) -> pattern => body`, `send(tx, value) -> pattern => body`, ",
            "`default => body` or `default(timeout) => body`, found: `",
            ::core::stringify!($($bad)+), "`"
        ))
    };

    // ----- numbering: gives each arm a local name and an index -----
    (@number [$($done:tt)*] [$arm:tt $($arms:tt)*] $def:tt
        [($id:ident $n:tt) $($ids:tt)*] $ix:ident) => {
        $crate::select!(@number [$($done)* ($id $n $arm)] [$($arms)*] $def [$($ids)*] $ix)
    };
    (@number $done:tt [] $def:tt $ids:tt $ix:ident) => {
        $crate::select!(@emit $done $def $ix)
    };
    (@number $done:tt [$($arms:tt)+] $def:tt [] $ix:ident) => {
        ::core::compile_error!("select! takes at most 32 operations")
    };

    // ----- code: arms as locals, one call, then the chosen arm's body -----
    (@emit [$(($id:ident $n:tt $arm:tt))*] $def:tt $ix:ident) => {{
        $( $crate::select!(@make $id $arm); )*
        let $ix = $crate::channel::__private::select(
            [$($id.arm()),*],
            $crate::select!(@fallback $def),
        );
        $crate::select!(@dispatch $ix [$(($id $n $arm))*] $def)
    }};
    (@make $id:ident (recv ($rx:expr) $p:tt $body:tt)) => {
        // `let x = &expr;` keeps a temporary channel alive to the end of the block.
        let $id = &$rx;
        let $id = $crate::channel::__private::RecvArm::new($id);
    };
    (@make $id:ident (send ($tx:expr) ($v:expr) $p:tt $body:tt)) => {
        let $id = &$tx;
        let $id = $crate::channel::__private::SendArm::new($id, $v);
    };
    (@fallback []) => { $crate::channel::__private::Fallback::Block };
    (@fallback [(Now) $body:tt]) => { $crate::channel::__private::Fallback::Now };
    (@fallback [(Timeout($t:expr)) $body:tt]) => {
        $crate::channel::__private::Fallback::Timeout($t)
    };
    (@dispatch $ix:ident [($id:ident $n:tt (recv $rx:tt ($p:pat) ($body:expr))) $($rest:tt)*] $def:tt) => {
        if $ix == ::core::option::Option::Some($n) {
            let $p = $id.into_result();
            $body
        } else {
            $crate::select!(@dispatch $ix [$($rest)*] $def)
        }
    };
    (@dispatch $ix:ident [($id:ident $n:tt (send $tx:tt $v:tt ($p:pat) ($body:expr))) $($rest:tt)*] $def:tt) => {
        if $ix == ::core::option::Option::Some($n) {
            let $p = $id.into_result();
            $body
        } else {
            $crate::select!(@dispatch $ix [$($rest)*] $def)
        }
    };
    (@dispatch $ix:ident [] [$kind:tt ($body:expr)]) => { $body };
    (@dispatch $ix:ident [] []) => {
        ::core::unreachable!("fibra: a select without default returned no operation")
    };

    // ----- entry -----
    ($($tokens:tt)*) => {
        $crate::select!(@parse [] [] $($tokens)*)
    };
}

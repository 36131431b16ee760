use fibra::*;
#[test]
fn smoke() {
    let mut co = Coroutine::new(|y: &Yielder<i32, &'static str>, first: i32| -> u64 {
        let next: i32 = y.suspend("a");
        (first + next) as u64
    });
    assert!(matches!(co.resume(1), CoroutineResult::Yield("a")));
    assert!(matches!(co.resume(2), CoroutineResult::Return(3)));
    assert!(co.done());
    let squares: Vec<u32> = Generator::new(|y| for i in 1..4 { y.suspend(i * i) }).collect();
    assert_eq!(squares, [1, 4, 9]);
}

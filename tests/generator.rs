//! Generators are iterators driven by suspend.

use fibra::Generator;

#[test]
fn squares() {
    let squares: Vec<u32> = Generator::new(|y| {
        for i in 1..4 {
            y.suspend(i * i)
        }
    })
    .collect();
    assert_eq!(squares, [1, 4, 9]);
}

#[test]
fn infinite_generator_taken_lazily() {
    let fib = Generator::new(|y| {
        let (mut a, mut b) = (0u64, 1u64);
        loop {
            y.suspend(a);
            (a, b) = (b, a + b);
        }
    });
    let v: Vec<u64> = fib.take(10).collect();
    assert_eq!(v, [0, 1, 1, 2, 3, 5, 8, 13, 21, 34]);
}

#[test]
fn fused_after_end() {
    let mut g = Generator::new(|y| y.suspend(1));
    assert_eq!(g.next(), Some(1));
    assert_eq!(g.next(), None);
    assert_eq!(g.next(), None);
}

#[test]
fn recursive_tree_walk() {
    // The classic use: walk a recursive structure without an explicit stack.
    enum Tree {
        Leaf(u32),
        Node(Box<Tree>, Box<Tree>),
    }
    fn walk(t: &Tree, y: &fibra::Yielder<(), u32>) {
        match t {
            Tree::Leaf(v) => y.suspend(*v),
            Tree::Node(l, r) => {
                walk(l, y);
                walk(r, y);
            }
        }
    }
    fn build(lo: u32, hi: u32) -> Tree {
        if lo == hi {
            Tree::Leaf(lo)
        } else {
            let m = (lo + hi) / 2;
            Tree::Node(Box::new(build(lo, m)), Box::new(build(m + 1, hi)))
        }
    }
    let tree = build(0, 999);
    let got: Vec<u32> = Generator::new(move |y| walk(&tree, y)).collect();
    assert_eq!(got, (0..1000).collect::<Vec<_>>());
}

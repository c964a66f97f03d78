#[derive(tars::Settings)]
enum Voice {
    Amy,
    Robot,
}

fn main() {}

#[tars::handler(topic = "sensors/{room}/{room}")]
async fn on_reading(room: String) {
    let _ = room;
}

fn main() {}

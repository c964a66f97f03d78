//! Outbound topic aliases (MQTT 5, `TARS_TOPIC_ALIASES`): the writer gives the topics it
//! publishes on numbers, up to the broker's Topic Alias Maximum from CONNACK, and sends
//! a topic in full only the first time (or when its number was taken by another); the
//! least recently used topic gives up its number when all are taken. A table lives for
//! one connection: the broker forgets the aliases when it ends.

use std::collections::HashMap;

use bytes::Bytes;

/// The most aliases kept, whatever the broker allows: finding the least recently used
/// one walks the table.
pub(crate) const MAX_ALIASES: u16 = 128;

/// One connection's topic → alias table.
#[derive(Debug)]
pub(crate) struct TopicAliases {
    capacity: u16,
    /// Each topic's alias and when it was last used.
    by_topic: HashMap<Bytes, (u16, u64)>,
    tick: u64,
}

impl TopicAliases {
    /// A table of at most `broker_maximum` aliases (and [`MAX_ALIASES`]); `None` when
    /// the broker allows none.
    pub(crate) fn new(broker_maximum: u16) -> Option<Self> {
        (broker_maximum > 0).then(|| Self {
            capacity: broker_maximum.min(MAX_ALIASES),
            by_topic: HashMap::new(),
            tick: 0,
        })
    }

    /// The alias of `topic`, and whether the topic must be sent with it (the alias is
    /// new to the broker).
    pub(crate) fn alias(&mut self, topic: &Bytes) -> (u16, bool) {
        self.tick += 1;
        if let Some((alias, used)) = self.by_topic.get_mut(topic) {
            *used = self.tick;
            return (*alias, false);
        }
        let alias = if (self.by_topic.len() as u16) < self.capacity {
            self.by_topic.len() as u16 + 1
        } else {
            let oldest = self
                .by_topic
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(topic, (alias, _))| (topic.clone(), *alias));
            match oldest {
                Some((topic, alias)) => {
                    self.by_topic.remove(&topic);
                    alias
                }
                None => 1,
            }
        };
        self.by_topic.insert(topic.clone(), (alias, self.tick));
        (alias, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(name: &'static str) -> Bytes {
        Bytes::from_static(name.as_bytes())
    }

    #[test]
    fn a_topic_goes_in_full_once_then_by_its_alias() {
        let mut aliases = TopicAliases::new(10).unwrap();
        assert_eq!(aliases.alias(&topic("tts/say")), (1, true));
        assert_eq!(aliases.alias(&topic("llm/response")), (2, true));
        assert_eq!(aliases.alias(&topic("tts/say")), (1, false));
        assert!(TopicAliases::new(0).is_none(), "the broker allows none");
    }

    #[test]
    fn when_all_are_taken_the_least_recently_used_gives_up_its_alias() {
        let mut aliases = TopicAliases::new(2).unwrap();
        aliases.alias(&topic("a"));
        aliases.alias(&topic("b"));
        aliases.alias(&topic("a"));
        assert_eq!(
            aliases.alias(&topic("c")),
            (2, true),
            "b was used least recently"
        );
        assert_eq!(aliases.alias(&topic("b")), (1, true), "then a");
        assert_eq!(aliases.alias(&topic("c")), (2, false));
    }
}

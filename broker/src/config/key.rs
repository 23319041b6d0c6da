//! The shape of a config key (type, default, doc) that the key tables declare and
//! config/defs.rs validates against.

/// The type of a config value, for validation and DescribeConfigs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    Boolean,
    String,
    Int,
    Short,
    Long,
    Double,
    List,
    Class,
    Password,
}

impl ConfigType {
    /// The DescribeConfigs v3+ config_type code.
    pub fn code(self) -> i8 {
        match self {
            ConfigType::Boolean => 1,
            ConfigType::String => 2,
            ConfigType::Int => 3,
            ConfigType::Short => 4,
            ConfigType::Long => 5,
            ConfigType::Double => 6,
            ConfigType::List => 7,
            ConfigType::Class => 8,
            ConfigType::Password => 9,
        }
    }
}

/// A topic-level key, its broker-level synonym and default.
#[derive(Debug, Clone, Copy)]
pub struct TopicKey {
    pub name: &'static str,
    pub broker_synonym: &'static str,
    pub default: &'static str,
    pub ty: ConfigType,
    pub allowed: &'static [&'static str],
    pub doc: &'static str,
}

/// A broker-only key.
#[derive(Debug, Clone, Copy)]
pub struct BrokerKey {
    pub name: &'static str,
    pub default: &'static str,
    pub ty: ConfigType,
    /// Whether it can be changed at runtime with AlterConfigs on the broker resource.
    pub dynamic: bool,
    pub doc: &'static str,
}

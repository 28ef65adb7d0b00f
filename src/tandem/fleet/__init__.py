"""Operations over many cells from the management node: select cells by node sets, fan
commands out to their nodes (ClusterShell), fold and report what they answer."""

import click


@click.command()
def main():
    """stub"""


@click.command()
def eval_vectors():
    """stub"""
